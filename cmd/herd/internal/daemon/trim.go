package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultTrimDelay is how long the daemon waits after its last control
// request (and after it starts) before it trims its memory: see
// Config.TrimDelay.
const DefaultTrimDelay = time.Second

// trimmer trims the daemon's memory once the control socket has been
// quiet for its delay after a request: it returns the heap's free pages
// to the system (debug.FreeOSMemory) and unmaps the pages of the
// daemon's own executable that it has read (dropImagePages).
//
// A herd binary links the CLI, the dashboard, the jobs engine and the
// metrics; every package's init runs in the daemon, and a start of apps
// runs code that the daemon then does not run again. Their pages stay
// mapped, and counted in the daemon's RSS, for its whole life. Unmapping
// them costs no I/O: they stay in the page cache, and a page the daemon
// runs again comes back with a minor fault. Nothing runs while the
// daemon idles: the timer is armed only by a request.
type trimmer struct {
	delay time.Duration // <= 0: never trim
	mu    sync.Mutex
	t     *time.Timer
	done  bool
	wg    sync.WaitGroup // a trim in progress
	runs  int            // trims done, for tests
}

// kick arms the timer, or pushes it back by the delay.
func (t *trimmer) kick() {
	if t == nil || t.delay <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	if t.t == nil {
		t.t = time.AfterFunc(t.delay, t.run)
		return
	}
	t.t.Reset(t.delay)
}

func (t *trimmer) run() {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	debug.FreeOSMemory()
	_, _ = dropImagePages()
	t.mu.Lock()
	t.runs++
	t.mu.Unlock()
}

// stop disarms the timer for good and waits for a trim in progress.
func (t *trimmer) stop() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.done = true
	if t.t != nil {
		t.t.Stop()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// trims returns how many trims have run.
func (t *trimmer) trims() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.runs
}

// dropImagePages unmaps, with madvise(MADV_DONTNEED), the resident pages
// of the process's read-only mappings of its own executable (its code, and
// its read-only data such as the function tables) and returns how many
// bytes were resident there. Only a mapping that holds no anonymous
// (written, copied-on-write) page is touched, so no byte of the process's
// changes: every page dropped is still the file's, in the page cache.
func dropImagePages() (int64, error) {
	var exe syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &exe); err != nil {
		return 0, err
	}
	dev := fmt.Sprintf("%02x:%02x", unix.Major(exe.Dev), unix.Minor(exe.Dev))
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var (
		spans     []span
		cur       span
		ok        bool // cur is a read-only private mapping of the executable
		rss, anon int64
		dropped   int64
	)
	flush := func() {
		if ok && anon == 0 && rss > 0 {
			spans = append(spans, cur)
			dropped += rss
		}
		ok, rss, anon = false, 0, 0
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		fields := bytes.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if bytes.HasSuffix(fields[0], []byte(":")) {
			if !ok || len(fields) < 2 {
				continue
			}
			n, _ := strconv.ParseInt(string(fields[1]), 10, 64)
			switch string(fields[0]) {
			case "Rss:":
				rss = n << 10
			case "Anonymous:":
				anon = n << 10
			}
			continue
		}
		// A mapping's first line: start-end perms offset dev inode path.
		flush()
		if len(fields) < 6 {
			continue
		}
		perms := string(fields[1])
		if perms != "r-xp" && perms != "r--p" {
			continue
		}
		ino, err := strconv.ParseUint(string(fields[4]), 10, 64)
		if err != nil || ino != exe.Ino || string(fields[3]) != dev {
			continue
		}
		se := bytes.SplitN(fields[0], []byte("-"), 2)
		if len(se) != 2 {
			continue
		}
		s, err1 := strconv.ParseUint(string(se[0]), 16, 64)
		e, err2 := strconv.ParseUint(string(se[1]), 16, 64)
		if err1 != nil || err2 != nil || e <= s {
			continue
		}
		cur, ok = span{uintptr(s), uintptr(e)}, true
	}
	flush()
	if err := sc.Err(); err != nil {
		return 0, err
	}
	for _, s := range spans {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, s.start, s.end-s.start, unix.MADV_DONTNEED); errno != 0 {
			return dropped, errno
		}
	}
	return dropped, nil
}
