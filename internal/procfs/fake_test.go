package procfs_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// TestMain doubles as a helper program: with PROCFS_HELPER set, the test
// binary waits for its standard input to close.
func TestMain(m *testing.M) {
	if os.Getenv("PROCFS_HELPER") != "" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		return
	}
	testutil.VerifyTestMain(m)
}

// statLine is a stat file of pid with the given command name, state, ppid
// and pgid; utime 250, stime 50 ticks, 7 threads, start 12345, rss 10 pages.
func statLine(pid, comm, state, ppid, pgid string) string {
	return pid + " (" + comm + ") " + state + " " + ppid + " " + pgid +
		" 1 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345 1048576 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
}

// fakeProc builds a proc tree under a temporary directory: files maps
// paths to contents, links maps paths to symlink targets.
func fakeProc(t *testing.T, files, links map[string]string) procfs.FS {
	t.Helper()
	root := t.TempDir()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return procfs.FS{Root: root}
}

func TestZeroFSIsProc(t *testing.T) {
	if got := (procfs.FS{}).Path("net/tcp"); got != "/proc/net/tcp" {
		t.Fatalf("Path = %q", got)
	}
	if got := (procfs.FS{Root: "/x"}).Path(""); got != "/x" {
		t.Fatalf("Path of root = %q", got)
	}
}

func TestFakeStat(t *testing.T) {
	odd := ") (x) y ((z"
	p := fakeProc(t, map[string]string{
		"10/stat":   statLine("10", odd, "S", "1", "10"),
		"11/stat":   statLine("11", "zombie", "Z", "10", "10"),
		"12/stat":   "12 (short) R 1 12\n",
		"10/status": "Name:\tx\nState:\tS (sleeping)\nVmSize:\t  2048 kB\nVmRSS:\t   512 kB\nThreads:\t7\nVmBad:\tlots kB\n",
	}, nil)
	s, err := p.Stat(10)
	if err != nil {
		t.Fatal(err)
	}
	want := procfs.Stat{PID: 10, Comm: odd, State: 'S', PPID: 1, PGID: 10, Session: 1, UTime: 250, STime: 50, Threads: 7, StartTime: 12345, VSize: 1 << 20, RSSPages: 10}
	if s != want {
		t.Fatalf("Stat =\n%+v, want\n%+v", s, want)
	}
	if s.CPU() != 3*time.Second {
		t.Errorf("CPU = %v, want 3s", s.CPU())
	}
	if s.RSS() != 10*int64(os.Getpagesize()) {
		t.Errorf("RSS = %d", s.RSS())
	}
	if s.Zombie() {
		t.Error("a sleeping process is a zombie")
	}
	if p.State(11) != 'Z' {
		t.Errorf("State(11) = %q", p.State(11))
	}
	if _, err := p.Stat(12); !errors.Is(err, procfs.ErrFormat) {
		t.Errorf("Stat of a short file: err = %v, want ErrFormat", err)
	}
	if p.State(12) != 0 || p.State(99) != 0 {
		t.Error("State of a bad or missing file is not 0")
	}
	if _, err := p.Stat(99); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing pid: err = %v, want ErrNotExist", err)
	}
	st, err := p.Status(10)
	if err != nil {
		t.Fatal(err)
	}
	if st != (procfs.Status{VMSize: 2 << 20, VMRSS: 512 << 10, Threads: 7}) {
		t.Errorf("Status = %+v", st)
	}
}

func TestFakeTree(t *testing.T) {
	p := fakeProc(t, map[string]string{
		// 1 has two threads; their children are 2, 3 and 4.
		"1/task/1/children": "2 3 ",
		"1/task/5/children": "4",
		"2/task/2/children": "6\n",
		"3/task/3/children": "",
		"4/task/4/children": "1 2", // a loop, which a real /proc never has
		"6/task/6/children": "junk -3 0 7",
		// 8 exists but its kernel writes no children files.
		"8/task/8/stat": "",
	}, nil)
	tids, err := p.Tasks(1)
	if err != nil || !slices.Equal(tids, []int{1, 5}) {
		t.Fatalf("Tasks(1) = %v, %v", tids, err)
	}
	kids, err := p.Children(1)
	slices.Sort(kids)
	if err != nil || !slices.Equal(kids, []int{2, 3, 4}) {
		t.Fatalf("Children(1) = %v, %v", kids, err)
	}
	tree := p.Tree(1)
	if !slices.Equal(tree[:1], []int{1}) || len(tree) != 6 {
		t.Fatalf("Tree(1) = %v, want 1 then 2, 3, 4, 6, 7", tree)
	}
	for i, pid := range tree {
		if pid == 6 && slices.Index(tree, 2) > i {
			t.Fatalf("Tree(1) = %v: 6 before its parent 2", tree)
		}
	}
	if _, err := p.Children(8); !errors.Is(err, procfs.ErrNoChildrenFile) {
		t.Errorf("Children without children files: err = %v, want ErrNoChildrenFile", err)
	}
	if _, err := p.Children(99); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Children of a missing pid: err = %v, want ErrNotExist", err)
	}
	if tr := p.Tree(99); !slices.Equal(tr, []int{99}) {
		t.Errorf("Tree of a missing pid = %v", tr)
	}
}

func TestFakeTreeIsBounded(t *testing.T) {
	files := map[string]string{}
	var b strings.Builder
	for i := 2; i < procfs.MaxTree+100; i++ {
		b.WriteString(" " + strconv.Itoa(i))
	}
	files["1/task/1/children"] = b.String()
	p := fakeProc(t, files, nil)
	if n := len(p.Tree(1)); n != procfs.MaxTree {
		t.Fatalf("len(Tree) = %d, want MaxTree %d", n, procfs.MaxTree)
	}
}

func TestFakeFDs(t *testing.T) {
	p := fakeProc(t, map[string]string{
		"7/fdinfo/4":          "pos:\t0\ntfd:        3 events:       19 data: 3  pos:0 ino:1a2b sdev:8\n",
		"7/task/7/syscall":    "43 0x3 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x4\n",
		"7/task/8/syscall":    "running\n",
		"net/tcp":             "header\n",
		"7/fd/not-a-number/x": "",
	}, map[string]string{
		"7/fd/0": "/dev/null",
		"7/fd/3": "socket:[4242]",
		"7/fd/4": "anon_inode:[eventpoll]",
		"7/fd/5": "socket:[junk]",
		"7/fd/6": "pipe:[99]",
	})
	fds, err := p.FDs(7)
	if err != nil {
		t.Fatal(err)
	}
	want := []procfs.FD{
		{Num: 0, Target: "/dev/null"}, {Num: 3, Target: "socket:[4242]"}, {Num: 4, Target: "anon_inode:[eventpoll]"},
		{Num: 5, Target: "socket:[junk]"}, {Num: 6, Target: "pipe:[99]"},
	}
	if !slices.Equal(fds, want) {
		t.Fatalf("FDs = %v, want %v", fds, want)
	}
	for _, fd := range fds {
		ino, ok := fd.SocketInode()
		if wantOK := fd.Num == 3; ok != wantOK || (ok && ino != 4242) {
			t.Errorf("fd %d (%s): SocketInode = %d, %v", fd.Num, fd.Target, ino, ok)
		}
		if fd.IsEpoll() != (fd.Num == 4) {
			t.Errorf("fd %d (%s): IsEpoll = %v", fd.Num, fd.Target, fd.IsEpoll())
		}
	}
	if b, err := p.FDInfo(7, 4); err != nil || !strings.Contains(string(b), "ino:1a2b") {
		t.Errorf("FDInfo = %q, %v", b, err)
	}
	if b, err := p.TaskSyscall(7, 8); err != nil || string(b) != "running\n" {
		t.Errorf("TaskSyscall = %q, %v", b, err)
	}
	if b, err := p.ReadFile("net/tcp"); err != nil || string(b) != "header\n" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	if _, err := p.FDs(99); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FDs of a missing pid: err = %v", err)
	}
}

// ReadFile and ReadPidFile read whole files of any size, as os.ReadFile
// does, and a missing one is fs.ErrNotExist in an *fs.PathError.
func TestReadFileSizes(t *testing.T) {
	files := map[string]string{"net/empty": ""}
	for _, n := range []int{1, 511, 512, 513, 4096, 100_000} {
		files["7/f"+strconv.Itoa(n)] = strings.Repeat("x", n-1) + "\n"
	}
	fsys := fakeProc(t, files, nil)
	for name, want := range files {
		var b []byte
		var err error
		if pid, rest, ok := strings.Cut(name, "/"); ok && pid == "7" {
			b, err = fsys.ReadPidFile(7, rest)
		} else {
			b, err = fsys.ReadFile(name)
		}
		if err != nil || string(b) != want {
			t.Errorf("%s: %d bytes, %v; want %d", name, len(b), err, len(want))
		}
	}
	_, err := fsys.ReadPidFile(8, "stat")
	var pe *fs.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Op != "open" || pe.Path != fsys.Path("8/stat") {
		t.Errorf("a missing file: %#v", err)
	}
	if b, err := procfs.Default.ReadPidFile(os.Getpid(), "cmdline"); err != nil || !strings.HasPrefix(string(b), os.Args[0]+"\x00") {
		t.Errorf("this process's cmdline: %q %v", b, err)
	}
}
