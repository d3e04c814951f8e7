package workers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// leakIn is tLeak's input.
type leakIn struct {
	MB       int
	Progress string // a file the task writes the MiB it holds to
}

// Tasks shared by the tests; registered at package level so that worker
// processes (copies of the test binary) have them too.
var (
	tDouble = Register("test.double", func(ctx context.Context, n int) (int, error) { return 2 * n, nil })
	tFail   = Register("test.fail", func(ctx context.Context, msg string) (int, error) { return 0, errors.New(msg) })
	tPanic  = Register("test.panic", func(ctx context.Context, msg string) (int, error) { panic(msg) })
	tExit   = Register("test.exit", func(ctx context.Context, code int) (int, error) {
		fmt.Fprintf(os.Stderr, "exiting with %d\n", code)
		os.Exit(code)
		return 0, nil
	})
	tSegv = Register("test.segv", func(ctx context.Context, _ int) (int, error) {
		fmt.Fprintln(os.Stderr, "about to segfault")
		syscall.Kill(os.Getpid(), syscall.SIGSEGV)
		time.Sleep(time.Minute)
		return 0, nil
	})
	tSpin = Register("test.spin", func(ctx context.Context, _ int) (int, error) {
		//lint:ignore SA5002 ignores its context on purpose
		for {
		}
	})
	tSleep = Register("test.sleep", func(ctx context.Context, ms int) (int, error) {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			return ms, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	})
	// tBomb asks for mb MiB in one allocation, then touches every page: far
	// over the limit at once, so it ends the same way however slowly the
	// machine faults pages in (RLIMIT_AS refuses the allocation; a memory
	// cgroup kills it after the limit's worth of pages).
	tBomb = Register("test.bomb", func(ctx context.Context, mb int) (int, error) {
		b := make([]byte, mb<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		return len(b) >> 20, nil
	})
	// tLeak grows by 1 MiB at a time up to MB MiB, touching every page, and
	// records how far it got in the file Progress: a slow leak, which only a
	// check of the memory actually used stops near the limit.
	tLeak = Register("test.leak", func(ctx context.Context, in leakIn) (int, error) {
		f, err := os.OpenFile(in.Progress, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		var keep [][]byte
		for i := 1; i <= in.MB; i++ {
			b := make([]byte, 1<<20)
			for j := 0; j < len(b); j += 4096 {
				b[j] = 1
			}
			keep = append(keep, b)
			if _, err := f.WriteAt([]byte(fmt.Sprintf("%8d", i)), 0); err != nil {
				return 0, err
			}
			time.Sleep(time.Millisecond) // at most ~1 GiB/s on any machine
		}
		return len(keep), nil
	})
	tBytes = Register("test.bytes", func(ctx context.Context, b []byte) ([]byte, error) {
		out := make([]byte, len(b))
		for i, c := range b {
			out[len(b)-1-i] = c
		}
		return out, nil
	})
	tNoop = Register("test.noop", func(ctx context.Context, _ struct{}) (struct{}, error) { return struct{}{}, nil })
	tPid  = Register("test.pid", func(ctx context.Context, _ int) (int, error) { return os.Getpid(), nil })
)
