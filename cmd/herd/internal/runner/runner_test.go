package runner

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/procfs"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

func TestTreeRSS(t *testing.T) {
	// A shell that forks a sleep (no exec: "; exit"): its tree is two
	// processes, each with some resident memory.
	cmd := exec.Command("/bin/sh", "-c", "sleep 30; exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	sh, _ := procfs.ReadStat(cmd.Process.Pid)
	// The sleep counts once it has exec'd: between fork and exec the child
	// may show no resident memory of its own yet.
	testutil.WaitFor(t, "the sleep", func() bool {
		tree := procfs.Tree(cmd.Process.Pid)
		if len(tree) != 2 {
			return false
		}
		st, err := procfs.ReadStat(tree[1])
		return err == nil && st.Comm == "sleep" && st.RSS() > 0
	})
	if rss := treeRSS(cmd.Process.Pid); rss <= sh.RSS() {
		t.Errorf("treeRSS = %d, want more than the shell's own %d", rss, sh.RSS())
	}
	if rss := treeRSS(1 << 22); rss != 0 {
		t.Errorf("treeRSS(no such pid) = %d", rss)
	}
}
