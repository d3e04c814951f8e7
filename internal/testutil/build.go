package testutil

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// BuildGo builds the Go main package pkg (a path such as "." or
// "./testdata/app", relative to the test's working directory, which is its
// package's directory) with `go build` into a new temporary directory of t,
// and returns the binary's path; the binary is named after pkg's directory.
// ctx bounds the build. BuildGo fails t, with go's output, if the build
// fails.
func BuildGo(ctx context.Context, t testing.TB, pkg string) string {
	t.Helper()
	abs, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(abs))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	// When ctx ends, go is killed; its compilers may still hold the
	// output pipe open for a moment.
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}
