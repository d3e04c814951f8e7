package daemon

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// imageRSS returns the resident bytes of this process's read-only
// mappings of its executable, from /proc/self/smaps.
func imageRSS(t *testing.T) int64 {
	t.Helper()
	var exe syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &exe); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total int64
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if !strings.HasSuffix(fs[0], ":") {
			in = len(fs) >= 6 && (fs[1] == "r-xp" || fs[1] == "r--p") && fs[4] == strconv.FormatUint(exe.Ino, 10)
			continue
		}
		if in && fs[0] == "Rss:" && len(fs) >= 2 {
			n, _ := strconv.ParseInt(fs[1], 10, 64)
			total += n << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestDropImagePages: the pages of the executable that the process has
// read leave its resident set, and the process runs on (its code comes
// back from the page cache).
func TestDropImagePages(t *testing.T) {
	before := imageRSS(t)
	if before == 0 {
		t.Fatal("no resident page of the executable: the smaps reading is wrong")
	}
	dropped, err := dropImagePages()
	if err != nil {
		t.Fatal(err)
	}
	after := imageRSS(t)
	t.Logf("executable resident: %d KiB before, %d KiB after; dropped %d KiB", before>>10, after>>10, dropped>>10)
	if dropped < before/2 {
		t.Fatalf("dropped %d bytes of %d resident", dropped, before)
	}
	if after >= before/2 {
		t.Fatalf("executable resident: %d bytes after the drop, %d before", after, before)
	}
	// The process still works: run some code it has not run since.
	if _, err := strconv.ParseFloat("1.5e3", 64); err != nil {
		t.Fatal(err)
	}
}

// TestTrimmer: a kick trims once after the delay, a kick within the delay
// pushes the trim back, a zero-delay trimmer never trims, and stop waits
// and disarms.
func TestTrimmer(t *testing.T) {
	tr := &trimmer{delay: 20 * time.Millisecond}
	tr.kick()
	tr.kick()
	deadline := time.Now().Add(30 * time.Second)
	for tr.trims() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no trim 30 s after a kick")
		}
		time.Sleep(5 * time.Millisecond)
	}
	tr.stop()
	n := tr.trims()
	tr.kick() // after stop: nothing
	time.Sleep(100 * time.Millisecond)
	if tr.trims() != n {
		t.Fatalf("trims after stop: %d, want %d", tr.trims(), n)
	}

	off := &trimmer{delay: -1}
	off.kick()
	time.Sleep(50 * time.Millisecond)
	if off.trims() != 0 || off.t != nil {
		t.Fatal("a trimmer with a negative delay armed its timer")
	}
	off.stop()
}
