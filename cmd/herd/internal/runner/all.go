package runner

import (
	"context"
	"errors"
	"sync"
)

// RunAll runs every runner at once until ctx ends or a signal stops them
// (each handles SIGHUP, SIGTERM, SIGINT, SIGTTIN and SIGTTOU itself). When
// one fails, the others are stopped gracefully. It returns the first
// failure, or nil after a clean stop of all.
func RunAll(ctx context.Context, rs []*Runner) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(rs))
	var wg sync.WaitGroup
	var once sync.Once
	first := -1
	for i, r := range rs {
		wg.Go(func() {
			errs[i] = r.Run(ctx)
			if errs[i] != nil {
				once.Do(func() { first = i })
				cancel() // stop the others
			}
		})
	}
	wg.Wait()
	if first >= 0 {
		return errs[first]
	}
	return errors.Join(errs...)
}
