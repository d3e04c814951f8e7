package child

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
)

// BenchmarkExecTrue is Exec of "true" through /bin/sh, as Node's exec does.
func BenchmarkExecTrue(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		if _, err := Exec(ctx, "true", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpawnTrue is Spawn of /bin/true and Wait, with stdio pipes.
func BenchmarkSpawnTrue(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		p, err := Spawn(ctx, "true", nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOSExecTrue is the same with os/exec and no pipes: the floor of
// process creation from Go.
func BenchmarkOSExecTrue(b *testing.B) {
	for b.Loop() {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForkExecTrue is a bare fork, exec and wait4.
func BenchmarkForkExecTrue(b *testing.B) {
	for b.Loop() {
		pid, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{})
		if err != nil {
			b.Fatal(err)
		}
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}
