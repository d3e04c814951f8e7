package shm

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/ipc"
)

func init() {
	// A child that maps the buffer it is sent, then: adds 1 to the int32
	// at 0 n times, or plays ping-pong on the slots at 8 and 12.
	child.Register("shm.test", func(ctx context.Context, conn *ipc.Conn) error {
		m, err := conn.Recv(ctx)
		if err != nil {
			return err
		}
		var cmd struct {
			Op string
			N  int
		}
		m.Decode(&cmd)
		f := m.Handle.(*os.File)
		b, err := Open(f)
		f.Close()
		if err != nil {
			return err
		}
		defer b.Close()
		switch cmd.Op {
		case "add":
			s, _ := b.Int32(0)
			w, _ := b.Int64(8)
			for range cmd.N {
				s.Add(1)
				w.Add(2)
			}
		case "pingpong":
			ping, _ := b.Int32(8)
			pong, _ := b.Int32(12)
			for i := int32(1); i <= int32(cmd.N); i++ {
				for ping.Load() < i {
					if _, err := ping.Wait(ctx, i-1); err != nil {
						return err
					}
				}
				pong.Store(i)
				pong.Notify(1)
			}
		}
		return conn.Send(ctx, "done")
	})
}

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}

func forkWith(t *testing.T, b *Buffer, op string, n int) *child.Process {
	t.Helper()
	p, err := child.ForkSelf(context.Background(), "shm.test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := b.File()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Channel.SendHandle(context.Background(), map[string]any{"Op": op, "N": n}, f); err != nil {
		t.Fatal(err)
	}
	return p
}

func finish(t *testing.T, p *child.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.Channel.Recv(ctx); err != nil {
		t.Errorf("child: %v", err)
	}
	p.Channel.Close()
	if err := p.Wait(); err != nil {
		t.Errorf("child exit: %v", err)
	}
}

func TestAtomicsAcrossProcesses(t *testing.T) {
	b, err := New(4096)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const kids, n = 4, 20000
	var ps []*child.Process
	for range kids {
		ps = append(ps, forkWith(t, b, "add", n))
	}
	s, _ := b.Int32(0)
	w, _ := b.Int64(8)
	for range n {
		s.Add(1)
	}
	for _, p := range ps {
		finish(t, p)
	}
	if got := s.Load(); got != (kids+1)*n {
		t.Fatalf("int32 = %d, want %d", got, (kids+1)*n)
	}
	if got := w.Load(); got != kids*n*2 {
		t.Fatalf("int64 = %d, want %d", got, kids*n*2)
	}
}

func TestWaitNotifyAcrossProcesses(t *testing.T) {
	b, err := New(64)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const rounds = 200
	p := forkWith(t, b, "pingpong", rounds)
	ping, _ := b.Int32(8)
	pong, _ := b.Int32(12)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := int32(1); i <= rounds; i++ {
		ping.Store(i)
		ping.Notify(1)
		for pong.Load() < i {
			if _, err := pong.Wait(ctx, i-1); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		}
	}
	finish(t, p)
}

func TestWaitResults(t *testing.T) {
	for _, mk := range []func(int) (*Buffer, error){New, NewLocal} {
		b, err := mk(16)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := b.Int32(4)
		s.Store(7)
		if woke, err := s.Wait(context.Background(), 6); woke || err != nil {
			t.Fatalf("not-equal: %v %v", woke, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		start := time.Now()
		woke, err := s.Wait(ctx, 7)
		cancel()
		if woke || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 25*time.Millisecond {
			t.Fatalf("timeout: %v %v after %v", woke, err, time.Since(start))
		}
		ctx, cancel = context.WithCancel(context.Background())
		go func() { time.Sleep(30 * time.Millisecond); cancel() }()
		if _, err := s.Wait(ctx, 7); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancel: %v", err)
		}
		// Notify wakes a sleeping waiter and counts it.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s.Load() == 7 {
				s.Wait(context.Background(), 7)
			}
		}()
		time.Sleep(50 * time.Millisecond) // past the spin: asleep in the kernel
		s.Store(8)
		woken := 0
		deadline := time.Now().Add(20 * time.Second)
		for woken == 0 && time.Now().Before(deadline) {
			woken = s.Notify(-1)
			if woken == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		wg.Wait()
		if woken != 1 {
			t.Fatalf("Notify woke %d", woken)
		}
		b.Close()
	}
}

func TestBoundsAndAlignment(t *testing.T) {
	b, err := New(64)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"int32 end", second(b.Int32(64)), ErrOutOfBounds},
		{"int32 straddle", second(b.Int32(62)), ErrOutOfBounds},
		{"int32 negative", second(b.Int32(-4)), ErrOutOfBounds},
		{"int32 unaligned", second(b.Int32(2)), ErrUnaligned},
		{"int64 unaligned", second(b.Int64(4)), ErrUnaligned},
		{"int64 end", second(b.Int64(64)), ErrOutOfBounds},
		{"int32 last ok", second(b.Int32(60)), nil},
		{"int64 last ok", second(b.Int64(56)), nil},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) || (c.want == nil && c.err != nil) {
			t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
		}
	}
	_, err = b.Int32(58)
	var re *RangeError
	if !errors.As(err, &re) || re.Offset != 58 || re.Len != 64 || re.Error() != "shm: Int32 at offset 58 (4 bytes) in a 64-byte buffer: offset must be a multiple of 4" {
		t.Errorf("RangeError: %v", err)
	}
	if _, err := b.Slice(60, 8); !errors.Is(err, ErrOutOfBounds) {
		t.Errorf("Slice: %v", err)
	}
	if s, err := b.Slice(8, 8); err != nil || len(s) != 8 {
		t.Errorf("Slice ok: %v", err)
	}
	l, _ := NewLocal(8)
	if _, err := l.File(); !errors.Is(err, ErrNotShareable) {
		t.Errorf("local File: %v", err)
	}
	if _, err := New(0); err == nil {
		t.Error("New(0) succeeded")
	}
	b2, _ := New(8)
	b2.Close()
	if err := b2.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("double close: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }
