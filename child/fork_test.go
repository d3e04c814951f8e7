package child

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/ipc"
)

func init() {
	Register("test-echo", func(ctx context.Context, parent *ipc.Conn) error {
		for {
			m, err := parent.Recv(ctx)
			if err != nil {
				return nil
			}
			var v any
			m.Decode(&v)
			if err := parent.Send(ctx, map[string]any{"echo": v, "args": os.Args[1:]}); err != nil {
				return err
			}
		}
	})
	Register("test-fail", func(ctx context.Context, parent *ipc.Conn) error {
		return errors.New("the worker gave up")
	})
	Register("test-wait", func(ctx context.Context, parent *ipc.Conn) error {
		parent.Send(ctx, "ready")
		<-ctx.Done()
		return nil
	})
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestForkSelfEcho(t *testing.T) {
	ctx := testCtx(t)
	p, err := ForkSelf(ctx, "test-echo", []string{"a1", "a2"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Channel.Mode() != ipc.ModeFast {
		t.Fatalf("ForkSelf channel mode %v, want fast", p.Channel.Mode())
	}
	for i := range 50 {
		if err := p.Channel.Send(ctx, i); err != nil {
			t.Fatal(err)
		}
		m, err := p.Channel.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Echo float64
			Args []string
		}
		m.Decode(&got)
		if int(got.Echo) != i || strings.Join(got.Args, ",") != "a1,a2" {
			t.Fatalf("got %+v", got)
		}
	}
	// Closing the channel ends the child: its ctx is cancelled.
	p.Channel.Close()
	if err := p.Wait(); err != nil {
		t.Fatalf("child exit: %v", err)
	}
}

func TestForkSelfRoleErrorAndUnknownRole(t *testing.T) {
	ctx := testCtx(t)
	var stderr bytes.Buffer
	p, err := ForkSelf(ctx, "test-fail", nil, &Options{Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		t.Fatalf("got %v, want exit code 1", err)
	}
	if !strings.Contains(stderr.String(), "the worker gave up") {
		t.Fatalf("stderr %q", stderr.String())
	}
	_, err = ForkSelf(ctx, "no-such-role", nil, nil)
	var se *StartError
	if !errors.As(err, &se) || !errors.Is(err, ErrUnknownRole) {
		t.Fatalf("got %v, want a StartError wrapping ErrUnknownRole", err)
	}
}

func TestForkSelfCancelStopsChild(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	p, err := ForkSelf(ctx, "test-wait", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Channel.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	err = p.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || !ee.Killed || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want killed with context.Canceled", err)
	}
	// The role saw SIGTERM as ctx cancellation and exited cleanly.
	if ee.Code != 0 {
		t.Fatalf("exit code %d signal %v, want a clean exit on SIGTERM", ee.Code, ee.Signal)
	}
}

func TestForkAnyProgramGetsChannelEnv(t *testing.T) {
	ctx := testCtx(t)
	var out bytes.Buffer
	p, err := Fork(ctx, "/bin/sh", []string{"-c", `echo "$NODE_CHANNEL_FD $NODE_CHANNEL_SERIALIZATION_MODE"; [ -S /proc/self/fd/3 ] || ls -l /proc/self/fd/3`}, &Options{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); !strings.HasPrefix(got, "3 json") {
		t.Fatalf("child saw %q", got)
	}
	<-p.Channel.Done()
	if !errors.Is(p.Channel.Err(), ipc.ErrDisconnected) {
		t.Fatalf("channel after exit: %v", p.Channel.Err())
	}
}

func TestThousandForksLeakNothing(t *testing.T) {
	run := func() {
		// Each fork gets the whole bound: on a loaded machine 1000 forks
		// can take longer than one testCtx, and this test is about leaks.
		ctx, cancel := context.WithTimeout(t.Context(), testutil.WaitTimeout)
		defer cancel()
		p, err := Fork(ctx, "/bin/true", nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
		<-p.Channel.Done()
	}
	run() // warm up lazily opened descriptors (the starter thread, /dev/null)
	fds, kids := testutil.CountFDs(t), len(testutil.AllChildrenOf(t, os.Getpid()))
	for range 1000 {
		run()
	}
	var f2, k2 int
	// Descriptors of finished readers close asynchronously.
	for end := time.Now().Add(testutil.WaitTimeout); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if f2, k2 = testutil.CountFDs(t), len(testutil.AllChildrenOf(t, os.Getpid())); f2 <= fds && k2 <= kids {
			break
		}
	}
	if f2 > fds || k2 > kids {
		t.Fatalf("after 1000 forks: %d fds (was %d), %d children (was %d)", f2, fds, k2, kids)
	}
}
