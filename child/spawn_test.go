package child

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestSpawnPipes(t *testing.T) {
	p, err := Spawn(t.Context(), "sh", []string{"-c", "read x; echo got $x; echo e >&2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != -1 {
		t.Fatalf("ExitCode before exit = %d", p.ExitCode())
	}
	if _, err := io.WriteString(p.Stdin, "hello\n"); err != nil {
		t.Fatal(err)
	}
	if err := p.Stdin.Close(); err != nil {
		t.Fatal(err)
	}
	var errOut []byte
	var wg sync.WaitGroup
	wg.Go(func() { errOut, _ = io.ReadAll(p.Stderr) })
	out, err := io.ReadAll(p.Stdout)
	wg.Wait()
	if err != nil || string(out) != "got hello\n" || string(errOut) != "e\n" {
		t.Fatalf("err %v stdout %q stderr %q", err, out, errOut)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != 0 {
		t.Fatalf("ExitCode = %d", p.ExitCode())
	}
	if err := p.Stdin.Close(); err != nil {
		t.Fatalf("second Stdin.Close: %v", err)
	}
}

func TestSpawnOutputKeptUntilRead(t *testing.T) {
	// Nobody reads while the child runs; Wait closes the pipe but keeps
	// what was in it.
	p, err := Spawn(t.Context(), "sh", []string{"-c", "echo kept; echo also >&2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(p.Stdout)
	errOut, err2 := io.ReadAll(p.Stderr)
	if err != nil || err2 != nil || string(out) != "kept\n" || string(errOut) != "also\n" {
		t.Fatalf("stdout %q %v, stderr %q %v", out, err, errOut, err2)
	}
	if n, err := p.Stdout.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v", n, err)
	}
	if err := p.Stdout.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSpawnWriters(t *testing.T) {
	var out testutil.SyncBuffer
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := Spawn(t.Context(), "sh", []string{"-c", "cat; echo to-file >&2"},
		&Options{Stdin: strings.NewReader("from-reader"), Stdout: &out, Stderr: f})
	if err != nil {
		t.Fatal(err)
	}
	if p.Stdin != nil || p.Stdout != nil || p.Stderr != nil {
		t.Fatal("pipes given for streams that Options set")
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "from-reader" {
		t.Fatalf("stdout writer got %q (Wait must wait for the copier)", out.String())
	}
	b, _ := os.ReadFile(f.Name())
	if string(b) != "to-file\n" {
		t.Fatalf("stderr file got %q", b)
	}
}

func TestSpawnOwnProcessGroup(t *testing.T) {
	p, err := Spawn(t.Context(), "sleep", []string{"30"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wait()
	defer p.Kill(syscall.SIGKILL)
	pgid, err := syscall.Getpgid(p.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.Pid || pgid == syscall.Getpgrp() {
		t.Fatalf("pgid %d, child %d, ours %d", pgid, p.Pid, syscall.Getpgrp())
	}
}

func TestKill(t *testing.T) {
	p, err := Spawn(t.Context(), "sleep", []string{"30"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGUSR1 || ee.Code != -1 || ee.Killed || ee.Reason != nil || ee.Stderr != nil {
		t.Fatalf("got %#v", err)
	}
	if !strings.Contains(err.Error(), "killed by SIGUSR1") {
		t.Fatalf("message %q", err)
	}
	if p.ExitCode() != -1 {
		t.Fatalf("ExitCode = %d after a signal", p.ExitCode())
	}
	if err := p.Kill(syscall.SIGKILL); !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("Kill after exit = %v", err)
	}
}

func TestKillReachesGroup(t *testing.T) {
	// Detached, so only the group signal can kill the grandchild.
	p, err := Spawn(t.Context(), "sh", []string{"-c", "sleep 30 & echo $!; wait"}, &Options{Detached: true})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := readLine(p.Stdout)
	gpid := atoiLine(t, line)
	killLater(t, gpid)
	if err := p.Kill(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if !testutil.WaitGone(gpid, 2*time.Second) {
		t.Fatal("grandchild survived Kill")
	}
}

func TestWaitIdempotentConcurrent(t *testing.T) {
	p, err := Spawn(t.Context(), "sh", []string{"-c", "sleep 0.1; exit 3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
		t.Fatal("Done closed while running")
	default:
	}
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = p.Wait() })
	}
	wg.Wait()
	var ee *ExitError
	if !errors.As(errs[0], &ee) || ee.Code != 3 {
		t.Fatalf("got %v", errs[0])
	}
	for _, e := range append(errs, p.Wait()) {
		if e != errs[0] {
			t.Fatalf("Wait returned %p and %p", e, errs[0])
		}
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done not closed after Wait")
	}
	if p.ExitCode() != 3 {
		t.Fatalf("ExitCode = %d", p.ExitCode())
	}
}

func TestSpawnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := Spawn(ctx, "sleep", []string{"30"}, &Options{KillSignal: syscall.SIGUSR2})
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err = p.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed || ee.Signal != syscall.SIGUSR2 {
		t.Fatalf("got %#v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	// A context that is already done starts nothing.
	p2, err := Spawn(ctx, "true", nil, nil)
	if err == nil {
		p2.Wait()
		t.Fatal("Spawn with a canceled context started a process")
	}
}

func TestCancelAfterExitIsNotAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	p, err := Spawn(ctx, "true", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	cancel()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestSpawnStdoutClose(t *testing.T) {
	p, err := Spawn(t.Context(), "yes", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(p.Stdout, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := p.Stdout.Close(); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := p.Wait(); !errors.As(err, &ee) || ee.Signal != syscall.SIGPIPE {
		t.Fatalf("want SIGPIPE, got %v", err)
	}
	if _, err := p.Stdout.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
}

func TestSpawnExtraHook(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var exited bool
	p, err := spawn(t.Context(), "sh", []string{"-c", `echo "$BASE $EXTRA" >&3`}, &Options{Env: []string{"BASE=b"}},
		&spawnExtra{ExtraFiles: []*os.File{w}, Env: []string{"EXTRA=x"}, OnExit: []func(){func() { exited = true }}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil || string(b) != "b x\n" {
		t.Fatalf("fd 3 got %q, %v", b, err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if !exited {
		t.Fatal("OnExit did not run before Wait returned")
	}
}

// readLine reads one line from r, byte by byte so nothing else is consumed.
func readLine(r io.Reader) ([]byte, error) {
	var b bytes.Buffer
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				return b.Bytes(), nil
			}
			b.WriteByte(one[0])
		}
		if err != nil {
			return b.Bytes(), err
		}
	}
}
