package workers

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

var wEcho = RegisterThread("test.echo", func(ctx context.Context, port *Port) error {
	var prefix string
	if err := port.Data(&prefix); err != nil {
		return err
	}
	if err := port.Send(ctx, "hello from "+prefix); err != nil {
		return err
	}
	for {
		m, err := port.Recv(ctx)
		if err != nil {
			return nil
		}
		if m.Raw {
			port.SendBytes(ctx, append([]byte(prefix), m.Data...))
			continue
		}
		var s string
		m.Decode(&s)
		switch s {
		case "quit":
			return nil
		case "fail":
			return errors.New("asked to fail")
		case "panic":
			panic("asked to panic")
		case "exit":
			os.Exit(5)
		case "hang":
			<-ctx.Done()
			return ctx.Err()
		}
		port.Send(ctx, prefix+s)
	}
})

func recvString(t *testing.T, w *Thread) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := w.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	var s string
	if err := m.Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func startEcho(t *testing.T, be Backend) *Thread {
	t.Helper()
	w, err := Start(context.Background(), wEcho, "w:", &ThreadOptions{Backend: be, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Online():
	case <-time.After(20 * time.Second):
		t.Fatal("not online")
	}
	if got := recvString(t, w); got != "hello from w:" {
		t.Fatalf("first message %q", got)
	}
	return w
}

func waitDone(t *testing.T, w *Thread) error {
	t.Helper()
	select {
	case <-w.Done():
		return w.Err()
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not end")
		return nil
	}
}

func TestWorker(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			w := startEcho(t, be)
			if be == Processes && w.Pid() == 0 {
				t.Error("no pid")
			}
			for _, s := range []string{"a", "b", "c"} {
				if err := w.Send(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			for _, s := range []string{"w:a", "w:b", "w:c"} {
				if got := recvString(t, w); got != s {
					t.Fatalf("got %q want %q", got, s)
				}
			}
			w.SendBytes(ctx, []byte{0, 1})
			m, err := w.Recv(ctx)
			if err != nil || !m.Raw || string(m.Data) != "w:\x00\x01" {
				t.Fatalf("raw: %+v %v", m, err)
			}
			w.Send(ctx, "quit")
			if err := waitDone(t, w); err != nil {
				t.Fatalf("Err = %v", err)
			}
			if _, err := w.Recv(ctx); !errors.Is(err, ErrExited) {
				t.Fatalf("Recv after exit: %v", err)
			}
			if err := w.Send(ctx, "x"); !errors.Is(err, ErrExited) {
				t.Fatalf("Send after exit: %v", err)
			}
		})
	}
}

func TestWorkerEnds(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	for _, be := range backends() {
		t.Run(be.String(), func(t *testing.T) {
			w := startEcho(t, be)
			w.Send(ctx, "fail")
			var te *TaskError
			if err := waitDone(t, w); !errors.As(err, &te) || te.Err.Error() != "asked to fail" {
				t.Fatalf("fail: %v", err)
			}
			w = startEcho(t, be)
			w.Send(ctx, "panic")
			var pe *PanicError
			if err := waitDone(t, w); !errors.As(err, &pe) || pe.Value != "asked to panic" {
				t.Fatalf("panic: %v", err)
			}
			w = startEcho(t, be)
			w.Send(ctx, "hang")
			time.Sleep(20 * time.Millisecond)
			w.Terminate()
			if err := w.Err(); !errors.Is(err, ErrTerminated) {
				t.Fatalf("terminate: %v", err)
			}
		})
	}
	w := startEcho(t, Processes)
	w.Send(ctx, "exit")
	var xe *WorkerExitError
	if err := waitDone(t, w); !errors.As(err, &xe) || xe.Code != 5 {
		t.Fatalf("exit: %v", err)
	}
	// The Start context bounds the worker's life.
	sctx, cancel := context.WithCancel(ctx)
	w, err := Start(sctx, wEcho, "w:", &ThreadOptions{Backend: Processes})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := waitDone(t, w); !errors.Is(err, ErrTerminated) {
		t.Fatalf("ctx: %v", err)
	}
}
