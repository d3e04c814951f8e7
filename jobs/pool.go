package jobs

import (
	"context"

	"github.com/herdrun/herd/workers"
)

// PoolHandler returns a Handler that runs each attempt's Args on pool.
func PoolHandler[A, R any](pool *workers.Pool[A, R]) Handler[A, R] {
	return func(ctx context.Context, job *Job[A]) (R, error) {
		return pool.Run(ctx, job.Args)
	}
}
