package jobs

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestTransient: the errors of a JetStream API request that a later try
// may not meet are transient, and the others are not.
func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("jobs: consumer w_default_3: %w", context.DeadlineExceeded), true},
		{nats.ErrTimeout, true},
		{nats.ErrNoResponders, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{jetstream.ErrConsumerNotFound, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10012, Description: "consumer create"}, false},
		{context.Canceled, false},
		{nats.ErrConnectionClosed, false},
		{errors.New("jobs: something else"), false},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestRetrySetup: a setup step that times out is tried again until it
// succeeds; one that fails for good, a ctx that ends and a Close stop the
// tries.
func TestRetrySetup(t *testing.T) {
	c := open(t, Config{})
	ctx := bg(t)

	tries := 0
	err := c.retrySetup(ctx, "test", func() error {
		tries++
		if tries < 3 {
			return fmt.Errorf("jobs: consumer w_default_1: %w", context.DeadlineExceeded)
		}
		return nil
	})
	if err != nil || tries != 3 {
		t.Fatalf("timing out twice: err %v after %d tries, want nil after 3", err, tries)
	}

	tries = 0
	bad := &jetstream.APIError{Code: 400, ErrorCode: 10012, Description: "consumer create"}
	if err := c.retrySetup(ctx, "test", func() error { tries++; return bad }); !errors.Is(err, bad) || tries != 1 {
		t.Fatalf("failing for good: err %v after %d tries, want %v after 1", err, tries, bad)
	}

	// A ctx that ends stops the tries with the last error.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	tries = 0
	err = c.retrySetup(short, "test", func() error { tries++; return nats.ErrNoResponders })
	if !errors.Is(err, nats.ErrNoResponders) || tries < 2 {
		t.Fatalf("ctx ending: err %v after %d tries, want %v after 2 or more", err, tries, nats.ErrNoResponders)
	}

	// Close stops them with ErrClosed.
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		once := false
		done <- c.retrySetup(ctx, "test", func() error {
			if !once {
				once = true
				close(started)
			}
			return nats.ErrTimeout
		})
	}()
	<-started
	_ = c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) && !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("after Close: %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("retrySetup went on after Close")
	}
}

// TestWaitUnknown: Wait of a job that does not exist returns ErrNotFound
// at once (only a read the store does not answer is made again).
func TestWaitUnknown(t *testing.T) {
	c := open(t, Config{})
	if _, err := c.Wait(bg(t), "01ARZ3NDEKTSV4RRFFQ69G5FAV"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Wait of an unknown job: %v, want ErrNotFound", err)
	}
}
