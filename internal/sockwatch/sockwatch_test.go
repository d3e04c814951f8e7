package sockwatch

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
	"go.uber.org/goleak"
)

// TestMain doubles as the helper program: with SOCKWATCH_HELPER set, the
// test binary uses the socket on fd 3 the way it names.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SOCKWATCH_HELPER"); mode != "" {
		helper(mode)
		return
	}
	goleak.VerifyTestMain(m)
}

func helper(mode string) {
	switch mode {
	case "hold": // holds the socket and never looks at it
		time.Sleep(time.Minute)
	case "netpoll": // a Go server
		ln, err := net.FileListener(os.NewFile(3, "ln"))
		if err != nil {
			os.Exit(2)
		}
		for {
			c, err := ln.Accept()
			if err != nil {
				os.Exit(0)
			}
			c.Close()
		}
	case "blocking": // a blocking accept(2) loop
		if err := syscall.SetNonblock(3, false); err != nil {
			os.Exit(2)
		}
		for {
			nfd, _, err := syscall.Accept(3)
			if err != nil {
				os.Exit(0)
			}
			syscall.Close(nfd)
		}
	case "late": // holds the socket for a while, then serves
		time.Sleep(300 * time.Millisecond)
		helper("netpoll")
	}
	os.Exit(3)
}

// listen opens a loopback listener and returns it with its file.
func listen(t *testing.T) (*net.TCPListener, *os.File) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close(); ln.Close() })
	return ln, f
}

// start runs cmd with f as its fd 3 and kills it at the end of the test.
func start(t *testing.T, cmd *exec.Cmd, f *os.File) *exec.Cmd {
	t.Helper()
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

func helperCmd(mode string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SOCKWATCH_HELPER="+mode)
	return cmd
}

func inodes(t *testing.T, ln *net.TCPListener) map[uint64]bool {
	t.Helper()
	m, err := ListenInodes([]int{ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// eventually polls Accepting for up to 10s.
func eventually(pid int, ino map[uint64]bool) bool {
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if Accepting(pid, ino) {
			return true
		}
	}
	return false
}

func TestListenInodes(t *testing.T) {
	ln, f := listen(t)
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	got := inodes(t, ln)
	if len(got) != 1 || !got[st.Ino] {
		t.Fatalf("ListenInodes = %v, want {%d}", got, st.Ino)
	}
	// A port with no listener.
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	f.Close()
	if _, err := ListenInodes([]int{port}); err != ErrNoSocket {
		t.Fatalf("closed port: err = %v, want ErrNoSocket", err)
	}
}

func TestHoldingIsNotAccepting(t *testing.T) {
	ln, f := listen(t)
	ino := inodes(t, ln)
	cmd := start(t, helperCmd("hold"), f)
	time.Sleep(200 * time.Millisecond)
	if Accepting(cmd.Process.Pid, ino) {
		t.Fatal("a process that only holds the socket counts as accepting")
	}
}

func TestGoServerIsAccepting(t *testing.T) {
	ln, f := listen(t)
	cmd := start(t, helperCmd("netpoll"), f)
	if !eventually(cmd.Process.Pid, inodes(t, ln)) {
		t.Fatal("a Go server on the socket never counted as accepting")
	}
	// Another socket's inode does not match.
	other, _ := listen(t)
	if Accepting(cmd.Process.Pid, inodes(t, other)) {
		t.Fatal("accepting on a socket it does not have")
	}
}

func TestBlockingAcceptIsAccepting(t *testing.T) {
	ln, f := listen(t)
	cmd := start(t, helperCmd("blocking"), f)
	if !eventually(cmd.Process.Pid, inodes(t, ln)) {
		t.Fatal("a thread blocked in accept never counted as accepting")
	}
}

func TestLateServerIsSeenWhenItStarts(t *testing.T) {
	ln, f := listen(t)
	ino := inodes(t, ln)
	cmd := start(t, helperCmd("late"), f)
	began := time.Now()
	if Accepting(cmd.Process.Pid, ino) {
		t.Fatal("accepting before it serves")
	}
	if !eventually(cmd.Process.Pid, ino) {
		t.Fatal("never accepting")
	}
	if d := time.Since(began); d < 250*time.Millisecond {
		t.Fatalf("accepting after %v, before the helper served (300ms)", d)
	}
}

func TestDescendantIsAccepting(t *testing.T) {
	ln, f := listen(t)
	// sh forks the server rather than exec it ("; exit").
	cmd := exec.Command("/bin/sh", "-c", strconv.Quote(os.Args[0])+" -test.run='^$'; exit 0")
	cmd.Env = append(os.Environ(), "SOCKWATCH_HELPER=netpoll")
	start(t, cmd, f)
	if !eventually(cmd.Process.Pid, inodes(t, ln)) {
		t.Fatalf("a grandchild server never counted (tree %v)", procfs.Tree(cmd.Process.Pid))
	}
	if tr := procfs.Tree(cmd.Process.Pid); len(tr) < 2 {
		t.Fatalf("Tree = %v, want the shell and its child", tr)
	}
}

func TestNodeServerIsAccepting(t *testing.T) {
	testutil.RequireNode(t)
	ln, f := listen(t)
	ino := inodes(t, ln)
	cmd := start(t, exec.Command("node", "-e", `setTimeout(() => require('net').createServer(c => c.end()).listen({fd: 3}), 300)`), f)
	time.Sleep(100 * time.Millisecond)
	if Accepting(cmd.Process.Pid, ino) {
		t.Fatal("node counts as accepting before it listens")
	}
	if !eventually(cmd.Process.Pid, ino) {
		t.Fatal("a Node server never counted as accepting")
	}
}

func TestGoneProcess(t *testing.T) {
	if Accepting(1<<22+12345, map[uint64]bool{1: true}) {
		t.Fatal("a missing process is accepting")
	}
}

// An epoll entry names its file by inode number alone, and files of other
// file systems (a pipe here) have numbers of their own that may equal a
// socket's: only a socket the process holds counts.
func TestEpollInodeOfAnotherFileIsNotAccepting(t *testing.T) {
	r, w, err := os.Pipe() // pollable: in this process's epoll set
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(r.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	if Accepting(os.Getpid(), map[uint64]bool{st.Ino: true}) {
		t.Fatalf("a pipe in the epoll set whose inode number (%d) is asked for counts as accepting", st.Ino)
	}
}
