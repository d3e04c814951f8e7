package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/runner"
	"github.com/herdrun/herd/internal/guard"
)

// guardInstances makes `herd run` start every instance under a guard: this
// binary again, as internal/guard, between herd and the program. The guard
// ends everything the instance started, daemons included, when the
// instance exits, and also when herd itself dies, even of SIGKILL. Only the
// herd binary calls it: a test binary cannot act as the guard.
func guardInstances() {
	exe, err := os.Executable()
	if err != nil {
		return // instances run unguarded; the reaper still covers herd's life
	}
	self := os.Getpid()
	runner.Relay = exe
	runner.Guard = func(cmd []string, dir string, grace time.Duration, stop syscall.Signal) []string {
		if len(cmd) == 0 || !startable(cmd[0], dir) {
			// The cluster reports the command that cannot start, as
			// without a guard.
			return cmd
		}
		return guard.CommandSignal(exe, self, grace, stop, cmd)
	}
}

// startable reports whether name resolves to an executable file, as the
// guard (running in dir) will look it up.
func startable(name, dir string) bool {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) && dir != "" {
			name = filepath.Join(dir, name)
		}
	}
	_, err := exec.LookPath(name)
	return err == nil
}
