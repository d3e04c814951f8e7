package killer_test

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/killer"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// start runs a shell script in a process group of its own, waits until it
// prints its first line (so its traps are set), and kills the group at the
// end of the test.
func start(t *testing.T, script string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return cmd, strings.TrimSpace(line)
}

// waitSignal waits for cmd and returns the signal that ended it.
func waitSignal(t *testing.T, cmd *exec.Cmd) syscall.Signal {
	t.Helper()
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Wait = %v, want killed by a signal", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() {
		t.Fatalf("Wait = %v, want killed by a signal", err)
	}
	return ws.Signal()
}

func TestPolite(t *testing.T) {
	cmd, _ := start(t, "echo ok; exec sleep 300")
	k := killer.Escalation{Grace: time.Minute}.Start(killer.Group(cmd.Process.Pid))
	if sig := waitSignal(t, cmd); sig != syscall.SIGTERM {
		t.Fatalf("ended by %v, want SIGTERM (the default)", sig)
	}
	if !k.Stop() || k.Escalated() {
		t.Fatal("Stop after a polite exit: SIGKILL was already sent")
	}
	if err := killer.Group(cmd.Process.Pid)(0); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Group of a reaped group: %v, want os.ErrProcessDone", err)
	}
}

func TestEscalates(t *testing.T) {
	// The shell ignores SIGTERM and says so once it does.
	cmd, _ := start(t, "trap '' TERM; echo ok; while :; do sleep 0.05; done")
	began := time.Now()
	k := killer.Escalation{Signal: syscall.SIGTERM, Grace: 300 * time.Millisecond}.Start(killer.Group(cmd.Process.Pid))
	if sig := waitSignal(t, cmd); sig != syscall.SIGKILL {
		t.Fatalf("ended by %v, want SIGKILL", sig)
	}
	if el := time.Since(began); el < 300*time.Millisecond {
		t.Fatalf("SIGKILL came after %v, before the 300ms grace", el)
	}
	if !k.Escalated() || k.Stop() {
		t.Fatal("Escalated false or Stop true after SIGKILL")
	}
}

func TestNegativeGraceKillsAtOnce(t *testing.T) {
	cmd, _ := start(t, "trap '' TERM INT; echo ok; while :; do sleep 0.05; done")
	k := killer.Escalation{Signal: syscall.SIGINT, Grace: -1}.Start(killer.Group(cmd.Process.Pid))
	if !k.Escalated() {
		t.Fatal("a negative grace did not send SIGKILL from Start")
	}
	if sig := waitSignal(t, cmd); sig != syscall.SIGKILL {
		t.Fatalf("ended by %v, want SIGKILL", sig)
	}
}

// TestGroupAndProcess: Process signals the one process, Group all of it.
func TestGroupAndProcess(t *testing.T) {
	cmd, line := start(t, "sleep 300 & echo $!; wait")
	bg, err := strconv.Atoi(line)
	if err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	k := killer.Escalation{Signal: syscall.SIGKILL, Grace: time.Minute}.Start(killer.Process(sh))
	if sig := waitSignal(t, cmd); sig != syscall.SIGKILL {
		t.Fatalf("shell ended by %v", sig)
	}
	k.Stop()
	if testutil.Gone(bg) {
		t.Fatal("Process(sh) reached the shell's child too")
	}
	if err := killer.Process(sh)(0); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Process of a reaped pid: %v, want os.ErrProcessDone", err)
	}
	// The sleep is left alone in the group (init or a subreaper reaps it).
	k = killer.Escalation{Grace: time.Minute}.Start(killer.Group(sh))
	defer k.Stop()
	if !testutil.WaitGone(bg, testutil.WaitTimeout) {
		t.Fatal("Group(sh) did not end the sleep")
	}
}

// recorder is a Sender that notes the signals it is given.
type recorder struct {
	mu   sync.Mutex
	sigs []syscall.Signal
}

func (r *recorder) send(sig syscall.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sigs = append(r.sigs, sig)
	return nil
}

func (r *recorder) got() []syscall.Signal {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sigs)
}

// spyLocker is a mutex that reports when Lock is called and when Unlock
// has let it go. The test takes mu directly, so only the timer reports.
type spyLocker struct {
	mu               sync.Mutex
	waiting, unlocks chan struct{}
}

func (l *spyLocker) Lock() {
	l.waiting <- struct{}{}
	l.mu.Lock()
}

func (l *spyLocker) Unlock() {
	l.mu.Unlock()
	l.unlocks <- struct{}{}
}

// TestStopUnderLockerWins: an owner that sees the exit and calls Stop under
// the Locker beats a timer that is already due.
func TestStopUnderLockerWins(t *testing.T) {
	var r recorder
	l := &spyLocker{waiting: make(chan struct{}, 1), unlocks: make(chan struct{}, 1)}
	l.mu.Lock() // the owner holds its lock, as child.Process does
	k := killer.Escalation{Grace: 0, Locker: l}.Start(r.send)
	<-l.waiting // the timer fired and waits for the lock
	if !k.Stop() {
		t.Fatal("Stop under the lock reported SIGKILL sent")
	}
	l.mu.Unlock()
	<-l.unlocks // the timer is done
	if got := r.got(); !slices.Equal(got, []syscall.Signal{syscall.SIGTERM}) {
		t.Fatalf("signals sent = %v, want only SIGTERM", got)
	}
	if k.Escalated() {
		t.Fatal("Escalated after Stop won")
	}
}

func TestStopCancels(t *testing.T) {
	var r recorder
	k := killer.Escalation{Signal: syscall.SIGHUP, Grace: 20 * time.Millisecond}.Start(r.send)
	if !k.Stop() {
		t.Fatal("Stop before the grace reported SIGKILL sent")
	}
	if !k.Stop() {
		t.Fatal("a second Stop reported SIGKILL sent")
	}
	// Nothing can come now; give a late timer the chance to prove it wrong.
	time.Sleep(100 * time.Millisecond)
	if got := r.got(); !slices.Equal(got, []syscall.Signal{syscall.SIGHUP}) {
		t.Fatalf("signals sent = %v, want only SIGHUP", got)
	}
	var nilKill *killer.Kill
	if nilKill.Stop() || nilKill.Escalated() {
		t.Fatal("a nil Kill reports something")
	}
}
