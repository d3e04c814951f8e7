package contender

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// nodeDir is bench/node, from this package's directory.
const nodeDir = "../../node"

func TestFreeAddr(t *testing.T) {
	addr, port, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" || p != port {
		t.Fatalf("FreeAddr = %q, %q, %v", addr, port, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the port FreeAddr returned cannot be listened on: %v", err)
	}
	ln.Close()
}

// checkStopped stops s and checks that its process group and every instance
// it saw are gone.
func checkStopped(t *testing.T, s *Server, pids []int) {
	t.Helper()
	pg := s.SupervisorPID()
	s.Stop()
	s.Stop() // a second Stop does nothing
	if s.cmd != nil {
		testutil.WaitFor(t, "the contender's process group to be empty", func() bool { return testutil.GroupGone(pg) })
	} else {
		testutil.WaitFor(t, "the PM2 daemon to exit", func() bool { return testutil.Gone(pg) })
	}
	for _, pid := range pids {
		testutil.WaitFor(t, "instance "+strconv.Itoa(pid)+" to exit", func() bool { return testutil.Gone(pid) })
	}
}

// TestNodeCluster starts Node's cluster module in both ready modes and
// checks that two workers of its primary answer and that Stop leaves no
// process in its group.
func TestNodeCluster(t *testing.T) {
	testutil.RequireNode(t)
	for _, ready := range []Ready{ReadyAnswers, ReadyLine} {
		t.Run(ready.String(), func(t *testing.T) {
			var log testutil.SyncBuffer
			s, err := NodeCluster{NodeDir: nodeDir, Sched: "rr", Workers: 2, Ready: ready, Log: &log}.Start(context.Background())
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			if s.Name != "node-cluster-rr" {
				t.Errorf("Name = %q, want node-cluster-rr", s.Name)
			}
			if s.Start <= 0 {
				t.Errorf("Start = %v", s.Start)
			}
			primary := s.SupervisorPID()
			if primary <= 0 {
				t.Fatalf("SupervisorPID = %d", primary)
			}
			var pids []int
			if ready == ReadyLine {
				if s.PIDs != nil {
					t.Errorf("PIDs = %v for a ReadyLine process, want nil", s.PIDs)
				}
				got, err := WaitAnswers(context.Background(), s.Addr, 2)
				if err != nil {
					s.Stop()
					t.Fatal(err)
				}
				pids = keys(got)
			} else {
				pids = keys(s.PIDs)
			}
			workers := testutil.ChildrenOf(t, primary)
			if len(pids) != 2 {
				t.Errorf("%d distinct pids answered, want 2: %v", len(pids), pids)
			}
			for _, pid := range pids {
				if !slices.Contains(workers, pid) {
					t.Errorf("pid %d answered but is not a child of the primary %d (children %v)", pid, primary, workers)
				}
			}
			checkStopped(t, s, pids)
		})
	}
}

// TestPM2 starts PM2 with 2 instances, with and without `pm2 kill` at Stop,
// and checks that 2 of the daemon's children answer and that Stop ends the
// daemon and the instances and removes the private PM2_HOME.
func TestPM2(t *testing.T) {
	testutil.RequireNode(t, filepath.Join(nodeDir, "node_modules", "pm2", "bin", "pm2"))
	for _, killFirst := range []bool{false, true} {
		t.Run("KillFirst="+strconv.FormatBool(killFirst), func(t *testing.T) {
			var log testutil.SyncBuffer
			s, err := PM2{NodeDir: nodeDir, Instances: 2, KillFirst: killFirst, Log: &log}.Start(context.Background())
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			daemon := s.SupervisorPID()
			home := s.pm2.dir
			pids := keys(s.PIDs)
			if daemon <= 1 || daemon == os.Getpid() {
				s.Stop()
				t.Fatalf("SupervisorPID = %d", daemon)
			}
			if s.Name != "pm2" || len(pids) != 2 {
				t.Errorf("Name %q, pids %v; want pm2 and 2 pids", s.Name, pids)
			}
			children := testutil.ChildrenOf(t, daemon)
			for _, pid := range pids {
				if !slices.Contains(children, pid) {
					t.Errorf("pid %d answered but is not a child of the daemon %d (children %v)", pid, daemon, children)
				}
			}
			checkStopped(t, s, pids)
			if _, err := os.Stat(home); !os.IsNotExist(err) {
				t.Errorf("PM2_HOME %s still there after Stop: %v", home, err)
			}
		})
	}
}

// TestProcExits checks that a process that exits before it is ready fails
// the start with ErrExited in both modes, rather than after StartTimeout.
func TestProcExits(t *testing.T) {
	for _, ready := range []Ready{ReadyAnswers, ReadyLine} {
		t.Run(ready.String(), func(t *testing.T) {
			addr, _, err := FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			s, err := Proc{Name: "quitter", Addr: addr, Cmd: exec.Command("sh", "-c", "exit 3"), Ready: ready}.Start(context.Background())
			var se *StartError
			if s != nil || !errors.As(err, &se) || se.Name != "quitter" || !errors.Is(err, ErrExited) {
				t.Fatalf("Start = %v, %v; want a StartError for quitter wrapping ErrExited", s, err)
			}
		})
	}
}

// TestStartAllStopsStarted checks that StartAll stops the contenders already
// started when a later one fails.
func TestStartAllStopsStarted(t *testing.T) {
	var first *Server
	sleeper := func() (*Server, error) {
		s, err := Proc{Name: "sleeper", Cmd: exec.Command("sh", "-c", "echo READY; exec sleep 60"), Ready: ReadyLine}.Start(context.Background())
		first = s
		return s, err
	}
	failing := func() (*Server, error) { return nil, errors.New("second would not start") }
	ss, stop, err := StartAll(sleeper, failing)
	stop()
	if ss != nil || err == nil || err.Error() != "second would not start" {
		t.Fatalf("StartAll = %v, %v; want the second start's error", ss, err)
	}
	if first == nil {
		t.Fatal("the first contender did not start")
	}
	pg := first.SupervisorPID()
	testutil.WaitFor(t, "the first contender's group to be empty", func() bool { return testutil.GroupGone(pg) })
}

// TestStartCancelled checks that a start gives up when its context is done.
func TestStartCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	addr, _, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "60")
	s, err := Proc{Name: "mute", Addr: addr, Cmd: cmd, Instances: 1}.Start(ctx)
	if s != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Start = %v, %v; want context.Canceled", s, err)
	}
	if !testutil.GroupGone(cmd.Process.Pid) {
		t.Errorf("process group %d left after a failed start", cmd.Process.Pid)
	}
}

func keys(m map[int]bool) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
