package fifo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

var errEnd = errors.New("end of stream")

func TestOrderThenCloseError(t *testing.T) {
	var q Queue[int]
	for i := range 5 {
		if !q.Push(i) {
			t.Fatalf("Push(%d) on an open queue returned false", i)
		}
	}
	if n := q.Len(); n != 5 {
		t.Fatalf("Len() = %d, want 5", n)
	}
	q.Close(errEnd)
	q.Close(errors.New("second close"))
	if q.Push(99) {
		t.Fatal("Push after Close returned true")
	}
	ctx := context.Background()
	for i := range 5 {
		v, err := q.Pop(ctx)
		if err != nil || v != i {
			t.Fatalf("Pop() = %d, %v; want %d, nil", v, err, i)
		}
	}
	for range 2 {
		if v, err := q.Pop(ctx); err != errEnd || v != 0 {
			t.Fatalf("Pop() on a drained closed queue = %d, %v; want 0, %v", v, err, errEnd)
		}
	}
}

func TestCloseNil(t *testing.T) {
	var q Queue[string]
	q.Close(nil)
	if _, err := q.Pop(context.Background()); err != ErrClosed {
		t.Fatalf("Pop() after Close(nil) = %v, want ErrClosed", err)
	}
}

func TestPopContext(t *testing.T) {
	var q Queue[int]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.Pop(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Pop() with a cancelled context = %v, want context.Canceled", err)
	}
	// Pop looks at the queue before the context, so a queued item is
	// returned even when the context is already done.
	q.Push(7)
	if v, err := q.Pop(ctx); err != nil || v != 7 {
		t.Fatalf("Pop() with an item and a done context = %d, %v; want 7, nil", v, err)
	}
}

// TestWakesWaiters: a blocked Pop returns when an item arrives, and every
// blocked Pop returns when the queue closes.
func TestWakesWaiters(t *testing.T) {
	var q Queue[int]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const waiters = 8
	type res struct {
		v   int
		err error
	}
	out := make(chan res, waiters)
	for range waiters {
		go func() {
			v, err := q.Pop(ctx)
			out <- res{v, err}
		}()
	}
	q.Push(42)
	if r := <-out; r.err != nil || r.v != 42 {
		t.Fatalf("first woken Pop = %+v, want 42", r)
	}
	q.Close(errEnd)
	for range waiters - 1 {
		if r := <-out; r.err != errEnd {
			t.Fatalf("Pop after Close = %+v, want %v", r, errEnd)
		}
	}
}

// TestConcurrent: with several producers and consumers every item is
// popped exactly once, and each producer's items come out in its order.
func TestConcurrent(t *testing.T) {
	var q Queue[[2]int]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const producers, consumers, per = 4, 3, 2000
	var pw sync.WaitGroup
	for p := range producers {
		pw.Add(1)
		go func() {
			defer pw.Done()
			for i := range per {
				q.Push([2]int{p, i})
			}
		}()
	}
	got := make([][][2]int, consumers)
	var cw sync.WaitGroup
	for c := range consumers {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for {
				v, err := q.Pop(ctx)
				if err != nil {
					if err != errEnd {
						t.Errorf("consumer %d: %v", c, err)
					}
					return
				}
				got[c] = append(got[c], v)
			}
		}()
	}
	pw.Wait()
	q.Close(errEnd)
	cw.Wait()
	seen := make([]int, producers)
	count := 0
	for c, vs := range got {
		last := make([]int, producers)
		for p := range last {
			last[p] = -1
		}
		for _, v := range vs {
			if v[1] <= last[v[0]] {
				t.Fatalf("consumer %d got producer %d's item %d after %d", c, v[0], v[1], last[v[0]])
			}
			last[v[0]] = v[1]
			seen[v[0]]++
			count++
		}
	}
	if count != producers*per {
		t.Fatalf("popped %d items, pushed %d (per producer: %v)", count, producers*per, seen)
	}
}

func BenchmarkPushPop(b *testing.B) {
	var q Queue[[]byte]
	ctx := context.Background()
	msg := []byte("hello")
	b.ReportAllocs()
	for b.Loop() {
		q.Push(msg)
		q.Pop(ctx)
	}
}

func ExampleQueue() {
	var q Queue[string]
	q.Push("one")
	q.Push("two")
	q.Close(errors.New("channel closed"))
	for {
		m, err := q.Pop(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(m)
	}
	// Output:
	// one
	// two
	// channel closed
}
