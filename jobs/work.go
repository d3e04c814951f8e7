package jobs

import (
	"context"
	"time"
)

// Job is one attempt of a job, as its handler sees it.
type Job[A any] struct {
	ID, Kind, Queue      string
	Attempt, MaxAttempts int
	Priority             Priority
	Created              time.Time
	// Args are the job's arguments, decoded from JSON.
	Args A

	run *running
}

// Progress records how far the job is (fraction in [0, 1]) and a note; Get,
// Watch and Wait show them. It fails when the job was cancelled or the
// attempt has ended.
func (j *Job[A]) Progress(fraction float64, note string) error {
	if j.run == nil {
		return ErrNotImplemented
	}
	return j.run.progress(fraction, note)
}

// Handler runs one attempt of a job of one kind. Its ctx ends when the
// attempt times out, the job is cancelled (context.Cause is ErrCancelled)
// or the worker shuts down past its deadline. A returned error, or a panic,
// fails the attempt; the job is retried until MaxAttempts.
type Handler[A, R any] func(ctx context.Context, job *Job[A]) (R, error)

// QueueConfig says how a worker takes jobs from one queue.
type QueueConfig struct {
	// Concurrency bounds the jobs this process runs at once from the queue;
	// 0 means DefaultConcurrency (runtime.NumCPU()).
	Concurrency int
	// GlobalConcurrency bounds the jobs running at once from the queue over
	// every worker process; 0 means no bound. The first worker to start on
	// a queue sets it.
	GlobalConcurrency int
	// RateLimit bounds the jobs started per second by this process; 0 means
	// no bound.
	RateLimit float64
	// Burst is the rate limiter's burst; 0 means 1.
	Burst int
}

// WorkOptions configures Client.Work.
type WorkOptions struct {
	// Queues to take jobs from; nil means {DefaultQueue: {}}.
	Queues map[string]QueueConfig
	// ShutdownTimeout is how long Work waits for running jobs after ctx
	// ends; their contexts are cancelled then. 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Backoff is the delay after a failed attempt (1 for the first); nil
	// means exponential from 1 s, doubling to at most 5 min, with ±25 %
	// jitter (DefaultBackoff).
	Backoff func(attempt int) time.Duration
}
