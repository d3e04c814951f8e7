package logsink

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// writeLines writes lines "line 000\n" ... (9 bytes each) to w.
func writeLines(t *testing.T, w *RotatingFile, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := fmt.Fprintf(w, "line %03d\n", i); err != nil {
			t.Fatal(err)
		}
	}
}

// rotatedFiles returns the sorted indices of the existing files p.N.
func rotatedFiles(p string) []int {
	r := &RotatingFile{path: p}
	ns := r.rotated()
	for i, j := 0, len(ns)-1; i < j; i, j = i+1, j-1 {
		ns[i], ns[j] = ns[j], ns[i]
	}
	return ns
}

func TestRotateKeepsExactlyN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	// Leftovers of an earlier, larger Keep go at open.
	for _, n := range []int{4, 9} {
		os.WriteFile(p+"."+strconv.Itoa(n), []byte("old\n"), 0o644)
	}
	os.WriteFile(p+".x", []byte("not ours\n"), 0o644)
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 20, Keep: 3}) // two 9-byte lines a file
	if err != nil {
		t.Fatal(err)
	}
	if got := rotatedFiles(p); len(got) != 0 {
		t.Errorf("at open: rotated files %v, want none", got)
	}
	for i := range 20 {
		writeLines(t, r, i, i+1)
		if got := rotatedFiles(p); len(got) > 3 {
			t.Fatalf("after line %d: rotated files %v, more than 3", i, got)
		}
	}
	r.Close()
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1, 2, 3}) {
		t.Errorf("rotated files %v, want [1 2 3]", got)
	}
	// The newest 8 lines, in order, oldest in app.log.3.
	var all []string
	for _, name := range []string{p + ".3", p + ".2", p + ".1", p} {
		all = append(all, testutil.ReadLines(t, name)...)
	}
	var want []string
	for i := 12; i < 20; i++ {
		want = append(want, fmt.Sprintf("line %03d", i))
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("lines %q, want %q", all, want)
	}
	if _, err := os.Stat(p + ".x"); err != nil {
		t.Errorf("a file not named path.N was touched: %v", err)
	}
	if _, err := r.Write([]byte("x\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after Close: %v, want os.ErrClosed", err)
	}
}

func TestRotateKeepNone(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 20, Keep: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	writeLines(t, r, 0, 7)
	if got := rotatedFiles(p); len(got) != 0 {
		t.Errorf("rotated files %v with Keep -1", got)
	}
	if got := testutil.ReadLines(t, p); !reflect.DeepEqual(got, []string{"line 006"}) {
		t.Errorf("app.log = %q", got)
	}
}

func TestRotateHugeKeepIsCheap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 10, Keep: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		writeLines(t, r, 0, 5)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("rotation with a huge Keep did not finish: it walks every index")
	}
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1, 2, 3, 4}) {
		t.Errorf("rotated files %v", got)
	}
}

func TestRotateMaxAge(t *testing.T) {
	p := filepath.Join(t.TempDir(), "app.log")
	old := time.Now().Add(-48 * time.Hour)
	for n := 1; n <= 3; n++ {
		name := p + "." + strconv.Itoa(n)
		os.WriteFile(name, []byte("rotated "+strconv.Itoa(n)+"\n"), 0o644)
		if n >= 2 {
			if err := os.Chtimes(name, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 10, Keep: 5, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// At open: .2 and .3 are too old; .1 stays.
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("after open: rotated files %v, want [1]", got)
	}
	// Age .1; the next rotation moves it to .2 and deletes it there.
	if err := os.Chtimes(p+".1", old, old); err != nil {
		t.Fatal(err)
	}
	writeLines(t, r, 0, 2) // the second line rotates
	if got := rotatedFiles(p); !reflect.DeepEqual(got, []int{1}) {
		t.Fatalf("after rotation: rotated files %v, want [1]", got)
	}
	if got := testutil.ReadLines(t, p+".1"); !reflect.DeepEqual(got, []string{"line 000"}) {
		t.Errorf("app.log.1 = %q", got)
	}
	// Without MaxAge, age does not matter.
	q := filepath.Join(t.TempDir(), "keep.log")
	os.WriteFile(q+".1", nil, 0o644)
	os.Chtimes(q+".1", old, old)
	r2, err := OpenRotatingFile(q, RotateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2.Close()
	if _, err := os.Stat(q + ".1"); err != nil {
		t.Errorf("old file deleted without MaxAge: %v", err)
	}
}

func TestRotateNotRegularFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	rd, err := os.OpenFile(p, os.O_RDWR, 0) // a reader, so opening for writing does not block
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	r, err := OpenRotatingFile(p, RotateOptions{MaxSize: 10, Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	writeLines(t, r, 0, 5)
	r.Close()
	if st, err := os.Lstat(p); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the fifo was moved: %v %v", st, err)
	}
	if got := rotatedFiles(p); len(got) != 0 {
		t.Errorf("a fifo was rotated: %v", got)
	}
	buf := make([]byte, 100)
	n, _ := rd.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "line 000\nline 001\n") {
		t.Errorf("fifo got %q", buf[:n])
	}
}

func TestAppFilesReleaseKeepsSharedOpen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	logs := &Logs{}
	a, err := logs.ForApp(Files{App: "a", Log: p, Prefixed: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := logs.ForApp(Files{App: "b", Out: p, Prefixed: true})
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	b.Writer("b", 0, StreamStdout, nil).Write([]byte("still open\n"))
	if got := testutil.Unstamped(t, p); !reflect.DeepEqual(got, []string{"b[0] | still open"}) {
		t.Errorf("x.log = %q after the other app released it", got)
	}
	b.Release()
	if n := testutil.FDsOn(t, p); n != 0 {
		t.Errorf("%d descriptors open after the last release", n)
	}
	if len(logs.files.files) != 0 {
		t.Errorf("file set still holds %v", logs.files.files)
	}
}
