package procfs_test

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

// startGroup starts cmd in a process group of its own and kills the group
// at the end of the test.
func startGroup(t *testing.T, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	return cmd
}

func TestRealSelf(t *testing.T) {
	// Burn CPU until the counter moves (it counts clock ticks of 10ms):
	// a busy loop of a fixed wall time may get no tick at all on a loaded
	// machine.
	me := os.Getpid()
	var s procfs.Stat
	for deadline := time.Now().Add(testutil.WaitTimeout); ; {
		var err error
		if s, err = procfs.ReadStat(me); err != nil {
			t.Fatal(err)
		}
		if s.CPU() > 0 || time.Now().After(deadline) {
			break
		}
		for spin := time.Now().Add(5 * time.Millisecond); time.Now().Before(spin); {
		}
	}
	if s.PID != me || s.PPID != os.Getppid() || s.State == 0 || s.Zombie() {
		t.Fatalf("Stat = %+v, want pid %d, ppid %d, alive", s, me, os.Getppid())
	}
	if pg, _ := syscall.Getpgid(me); s.PGID != pg {
		t.Errorf("PGID = %d, want %d", s.PGID, pg)
	}
	if s.RSS() < 1<<20 || s.RSS() > 1<<34 {
		t.Errorf("RSS = %d bytes, implausible", s.RSS())
	}
	if s.CPU() <= 0 {
		t.Errorf("CPU = %v after a busy loop", s.CPU())
	}
	if s.StartTime == 0 || s.Threads < 1 {
		t.Errorf("StartTime %d, Threads %d", s.StartTime, s.Threads)
	}
	st, err := procfs.ReadStatus(me)
	if err != nil {
		t.Fatal(err)
	}
	if st.VMSize < st.VMRSS || st.VMRSS <= 0 || st.Threads < 1 {
		t.Errorf("Status = %+v", st)
	}
	tids, err := procfs.Tasks(me)
	if err != nil || !slices.Contains(tids, me) {
		t.Errorf("Tasks = %v, %v; want the main thread %d", tids, err, me)
	}

	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fds, err := procfs.FDs(me)
	if err != nil {
		t.Fatal(err)
	}
	want := procfs.FD{Num: int(f.Fd()), Target: os.Args[0]}
	if abs, err := filepath.EvalSymlinks(os.Args[0]); err == nil {
		want.Target = abs
	}
	if !slices.Contains(fds, want) {
		t.Errorf("FDs = %v, lacks %v", fds, want)
	}
	if _, err := procfs.ReadStat(1 << 30); err == nil {
		t.Error("Stat of a missing pid succeeded")
	}
}

// TestRealTree starts a shell that starts a sleep in the background and
// then becomes another sleep.
func TestRealTree(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 300 & echo $!; exec sleep 301")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startGroup(t, cmd)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	bg, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	kids, err := procfs.Children(sh)
	if err != nil || !slices.Equal(kids, []int{bg}) {
		t.Fatalf("Children(sh) = %v, %v; want [%d]", kids, err, bg)
	}
	if tr := procfs.Tree(sh); !slices.Equal(tr, []int{sh, bg}) {
		t.Fatalf("Tree(sh) = %v, want [%d %d]", tr, sh, bg)
	}
	// The forked shell has yet to exec sleep, maybe.
	var s procfs.Stat
	testutil.WaitFor(t, "the background sleep to exec", func() bool {
		s, err = procfs.ReadStat(bg)
		if err != nil {
			t.Fatal(err)
		}
		return s.Comm == "sleep"
	})
	if s.Comm != "sleep" || s.PPID != sh || s.PGID != sh || (s.State != 'S' && s.State != 'R') {
		t.Fatalf("Stat(sleep) = %+v, want comm sleep, ppid and pgid %d, sleeping or running", s, sh)
	}
	me, err := procfs.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.StartTime < me.StartTime {
		t.Errorf("the sleep started at %d, before this process (%d)", s.StartTime, me.StartTime)
	}
	if kids, err := procfs.Children(bg); err != nil || len(kids) != 0 {
		t.Errorf("Children(sleep) = %v, %v; want none", kids, err)
	}
	// The shell has one thread: its one children file says the same.
	if kids, err := procfs.ThreadChildren(sh, sh); err != nil || !slices.Equal(kids, []int{bg}) {
		t.Errorf("ThreadChildren(sh, sh) = %v, %v; want [%d]", kids, err, bg)
	}
	st, err := procfs.ReadStat(sh)
	if err != nil || st.Threads != 1 {
		t.Fatalf("Stat(sh) = %+v, %v; want 1 thread", st, err)
	}
	if kids, err := procfs.ChildrenOf(st); err != nil || !slices.Equal(kids, []int{bg}) {
		t.Errorf("ChildrenOf(sh) = %v, %v; want [%d]", kids, err, bg)
	}
	// This process has many threads: ChildrenOf reads them all, and finds
	// the shell whichever thread forked it.
	if kids, err := procfs.ChildrenOf(me); err != nil || !slices.Contains(kids, sh) {
		t.Errorf("ChildrenOf(this process of %d threads) = %v, %v; lacks %d", me.Threads, kids, err, sh)
	}
	if _, err := procfs.ThreadChildren(1<<30, 1<<30); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ThreadChildren of a missing pid: err = %v, want ErrNotExist", err)
	}
}

// TestRealZombie kills a child and sees it a zombie until it is reaped, then
// gone.
func TestRealZombie(t *testing.T) {
	cmd := exec.Command("sleep", "300")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if st := procfs.State(pid); st != 'S' && st != 'R' {
		t.Fatalf("State of a running sleep = %q", st)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the killed sleep to be a zombie", func() bool { return procfs.State(pid) == 'Z' })
	if kids, _ := procfs.Children(os.Getpid()); !slices.Contains(kids, pid) {
		t.Errorf("Children(self) = %v, lacks the zombie %d", kids, pid)
	}
	_ = cmd.Wait()
	if st := procfs.State(pid); st != 0 {
		t.Fatalf("State of a reaped process = %q, want 0", st)
	}
}

// TestRealOddCommand runs a program under a name that holds parentheses and
// spaces, which the kernel writes as is into the stat file.
func TestRealOddCommand(t *testing.T) {
	const odd = ") (x) y ((z"
	link := filepath.Join(t.TempDir(), odd)
	if err := os.Symlink(os.Args[0], link); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(link, "-test.run=^$")
	cmd.Env = append(os.Environ(), "PROCFS_HELPER=1")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	startGroup(t, cmd)
	s, err := procfs.ReadStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if s.Comm != odd || s.PPID != os.Getpid() || s.PGID != cmd.Process.Pid {
		t.Fatalf("Stat = %+v, want comm %q, ppid %d, pgid %d", s, odd, os.Getpid(), cmd.Process.Pid)
	}
}

// TestStatmOfThisProcess reads this process's statm through an open file
// and sees its private memory grow by what it allocates and touches.
func TestStatmOfThisProcess(t *testing.T) {
	sf, err := procfs.OpenStatm(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	before, err := sf.Read()
	if err != nil {
		t.Fatal(err)
	}
	if before.Resident <= 0 || before.Size < before.Resident {
		t.Fatalf("statm %+v: want 0 < resident <= size", before)
	}
	// Fresh anonymous pages, never touched before (a Go slice could reuse
	// heap pages that an earlier run already made resident).
	buf, err := syscall.Mmap(-1, 0, 64<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(buf)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 1
	}
	after, err := sf.Read()
	if err != nil {
		t.Fatal(err)
	}
	if grew := after.Private() - before.Private(); grew < 32<<20 {
		t.Errorf("private memory grew by %d bytes after touching 64 MiB", grew)
	}
}
