package cluster

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// commandEnvScript prints, on one line, what a Command worker sees of its
// place: its directory, the WorkerEnv variable, the cluster's own
// variables (or "-" when absent), a variable set in the primary's
// environment, Env and WorkerEnv (the last must win), and whether
// LISTEN_PID is its own pid.
const commandEnvScript = `#!/bin/sh
pidok=no; [ "$LISTEN_PID" = "$$" ] && pidok=yes
echo "dir=$(pwd -P) slot=$TEST_SLOT worker=${HERD_CLUSTER_WORKER:--} cslot=${HERD_CLUSTER_SLOT:--} parent=${HERD_CLUSTER_PARENT:--} dup=$HERD_TEST_DUP listenpid=$pidok"
exit 3
`

// runCommandEnv runs two Command workers of the script above from a
// temporary directory, with or without listeners and NoClusterEnv, and
// returns each slot's line and that directory.
func runCommandEnv(t *testing.T, listen, noClusterEnv bool) ([2]string, string) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "show.sh"), []byte(commandEnvScript), 0o755); err != nil {
		t.Fatal(err)
	}
	var outs [2]testutil.SyncBuffer
	cfg := Config{
		Workers: 2,
		// Relative, with a slash: resolved against Dir, not this
		// process's directory (where it does not exist).
		Command: []string{"./show.sh"},
		Dir:     dir,
		Env:     []string{"HERD_TEST_DUP=env"},
		WorkerEnv: func(slot int) []string {
			return []string{"TEST_SLOT=" + strconv.Itoa(slot), "HERD_TEST_DUP=worker" + strconv.Itoa(slot)}
		},
		NoClusterEnv: noClusterEnv,
		ReadyOnStart: true,
		NoSignals:    true,
		Output:       func(id, slot int) (io.Writer, io.Writer) { return &outs[slot], &outs[slot] },
		Respawn:      func(ExitStatus) bool { return false },
		Logger:       discardLogger(),
	}
	if listen {
		cfg.Listen = []Addr{{Address: "127.0.0.1:0"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := New(cfg, nil).Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil once both workers have exited", err)
	}
	var lines [2]string
	for i := range outs {
		lines[i] = strings.TrimSpace(outs[i].String())
	}
	return lines, dir
}

// Config.Dir, WorkerEnv and NoClusterEnv shape a Command worker without a
// shell of the caller's: it starts in Dir (a relative command is found
// there), gets its slot's variables after Env and over the primary's own
// environment, and none of the cluster's HERD_CLUSTER_* variables. With
// listeners the one trampoline still sets LISTEN_PID to the program's pid.
func TestCommandDirWorkerEnvNoClusterEnv(t *testing.T) {
	t.Setenv("HERD_TEST_DUP", "primary")
	for _, listen := range []bool{false, true} {
		t.Run("listen="+strconv.FormatBool(listen), func(t *testing.T) {
			lines, dir := runCommandEnv(t, listen, true)
			pid := "no"
			if listen {
				pid = "yes"
			}
			for slot, got := range lines {
				want := "dir=" + dir + " slot=" + strconv.Itoa(slot) + " worker=- cslot=- parent=- dup=worker" + strconv.Itoa(slot) + " listenpid=" + pid
				if got != want {
					t.Errorf("slot %d printed\n  %q, want\n  %q", slot, got, want)
				}
			}
		})
	}
}

// Without NoClusterEnv a Command worker keeps the cluster's variables, as
// before the field existed.
func TestCommandKeepsClusterEnv(t *testing.T) {
	lines, _ := runCommandEnv(t, false, false)
	for slot, got := range lines {
		if !strings.Contains(got, " cslot="+strconv.Itoa(slot)+" ") || strings.Contains(got, "worker=- ") ||
			!strings.Contains(got, " parent="+strconv.Itoa(os.Getpid())+" ") {
			t.Errorf("slot %d printed %q, want the HERD_CLUSTER_* variables", slot, got)
		}
	}
}

// A Dir that does not exist fails the start of the first worker, and so
// Run, instead of running the program elsewhere.
func TestCommandBadDir(t *testing.T) {
	cfg := Config{
		Workers:      1,
		Command:      []string{"true"},
		Dir:          filepath.Join(t.TempDir(), "missing"),
		ReadyOnStart: true,
		NoSignals:    true,
		Logger:       discardLogger(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := New(cfg, nil).Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("Run = %v, want an error naming the missing directory", err)
	}
}
