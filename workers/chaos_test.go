package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestChaos interleaves 10,000 normal tasks with tasks that panic, exit,
// segfault, spin past their timeout and allocate past their memory limit,
// and checks every outcome exactly, that the pool returns to its size, and
// that no process, goroutine or descriptor leaks.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("the chaos mix is long and -short skips it; run without -short")
	}
	noLeaks(t)
	const normal, each = 10_000, 8
	const size = 2
	kinds := []string{"panic", "exit", "segv", "spin", "bomb"}
	var memLimit int64 = 128 << 20
	if raceEnabled && MemoryLimitMode() == "rlimit" {
		kinds, memLimit = kinds[:4], 0
	}
	// The timeout ends the spins; every other bad kind must end by its
	// own cause first. A bomb is refused its allocation at once, but its
	// worker still has to run to die of it: with two busy loops beside a
	// full go test run, tasks here waited up to 4.4s for a worker and ran
	// up to 1.3s, and a bomb once ended as a timeout after 1s. 4s leaves
	// it room; the spins cost 16s of the two workers' time.
	p := newPool(t, tDouble, Processes, Options{
		Size: size, Timeout: 4 * time.Second, MemoryLimit: memLimit,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	bad := len(kinds) * each
	every := normal / bad
	type result struct {
		kind string
		arg  int
		err  error
		out  int
	}
	results := make([]result, 0, normal+bad)
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	submit := func(kind string, arg int, run func() (int, error)) {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := run()
			mu.Lock()
			results = append(results, result{kind, arg, err, out})
			mu.Unlock()
		}()
	}
	b := 0
	for i := range normal {
		submit("normal", i, func() (int, error) { return p.Run(ctx, i) })
		if i%every == every-1 && b < bad {
			kind := kinds[b%len(kinds)]
			b++
			switch kind {
			case "panic":
				submit(kind, 0, func() (int, error) { return On(p, tPanic).Run(ctx, "chaos") })
			case "exit":
				submit(kind, 3, func() (int, error) { return On(p, tExit).Run(ctx, 3) })
			case "segv":
				submit(kind, 0, func() (int, error) { return On(p, tSegv).Run(ctx, 0) })
			case "spin":
				submit(kind, 0, func() (int, error) { return On(p, tSpin).Run(ctx, 0) })
			case "bomb":
				submit(kind, 0, func() (int, error) { return On(p, tBomb).Run(ctx, 1024) })
			}
		}
	}
	wg.Wait()

	counts := map[string]int{}
	for _, r := range results {
		counts[r.kind]++
		if err := checkChaos(r.kind, r.arg, r.out, r.err); err != nil {
			t.Errorf("%s(%d): %v", r.kind, r.arg, err)
			var xe *WorkerExitError
			if errors.As(r.err, &xe) {
				t.Logf("worker stderr:\n%s", xe.Stderr)
			}
		}
	}
	if counts["normal"] != normal {
		t.Errorf("normal results: %d", counts["normal"])
	}
	for _, k := range kinds {
		if counts[k] != each {
			t.Errorf("%s results: %d, want %d", k, counts[k], each)
		}
	}
	s := p.Stats()
	if s.Completed != normal || s.Failed != uint64(bad) {
		t.Errorf("stats: completed %d failed %d", s.Completed, s.Failed)
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.Stats().Workers != size && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if w := p.Stats().Workers; w != size {
		t.Errorf("workers = %d, want %d", w, size)
	}
	// Every crash but the panics replaced a worker.
	want := uint64(bad - each)
	for p.Stats().Restarts != want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s = p.Stats()
	if s.Restarts != want {
		t.Errorf("restarts = %d, want %d", s.Restarts, want)
	}
	t.Logf("stats: %+v", s)
}

func checkChaos(kind string, arg, out int, err error) error {
	var xe *WorkerExitError
	switch kind {
	case "normal":
		if err != nil || out != 2*arg {
			return fmt.Errorf("got %d, %v", out, err)
		}
	case "panic":
		var pe *PanicError
		if !errors.As(err, &pe) || pe.Value != "chaos" {
			return fmt.Errorf("want *PanicError, got %v", err)
		}
	case "exit":
		if !errors.As(err, &xe) || xe.Code != 3 || xe.Signal != 0 || xe.OOM {
			return fmt.Errorf("want exit code 3, got %v", err)
		}
	case "segv":
		if !errors.As(err, &xe) || xe.Fatal != "SIGSEGV: segmentation violation" || xe.OOM {
			return fmt.Errorf("want SIGSEGV, got %v", err)
		}
	case "spin":
		var te *TimeoutError
		if !errors.As(err, &te) || !te.Killed {
			return fmt.Errorf("want *TimeoutError, got %v", err)
		}
	case "bomb":
		if !errors.As(err, &xe) || !errors.Is(err, ErrMemoryLimit) {
			return fmt.Errorf("want ErrMemoryLimit, got %v", err)
		}
	}
	return nil
}
