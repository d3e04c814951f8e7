package jobs

import (
	"context"
)

// Client submits, reads and runs jobs. Its methods are safe for concurrent
// use.
type Client struct {
}

// Open connects to the jobs of cfg: it starts an embedded server on cfg.Dir,
// or connects to cfg.URLs, and makes the streams and buckets it needs.
func Open(ctx context.Context, cfg Config) (*Client, error) { return nil, ErrNotImplemented }

// Close stops Work (see WorkOptions.ShutdownTimeout), then the connection
// and the embedded server. It is idempotent.
func (c *Client) Close() error { return nil }

// URL is the address other processes connect to: the embedded server's
// listener (Config.Listen) or the first of Config.URLs; "" for an embedded
// server without a listener.
func (c *Client) URL() string { return "" }

type running struct{}

func (r *running) progress(float64, string) error { return ErrNotImplemented }

// Submit adds a job of kind with args (encoded as JSON) and returns its ID.
func (c *Client) Submit(ctx context.Context, kind string, args any, opts SubmitOptions) (string, error) {
	return "", ErrNotImplemented
}

// SubmitMany adds many jobs and returns their IDs in order.
func (c *Client) SubmitMany(ctx context.Context, reqs []Request) ([]string, error) {
	return nil, ErrNotImplemented
}

// Declare lets this client submit kinds that no worker has registered yet.
func (c *Client) Declare(ctx context.Context, kinds ...string) error { return ErrNotImplemented }

// Get returns the job's Info, or ErrNotFound.
func (c *Client) Get(ctx context.Context, id string) (Info, error) { return Info{}, ErrNotImplemented }

// Wait returns the job's Info once it is in a final state.
func (c *Client) Wait(ctx context.Context, id string) (Info, error) { return Info{}, ErrNotImplemented }

// Watch sends the job's Info on every change.
func (c *Client) Watch(ctx context.Context, id string) (<-chan Info, error) {
	return nil, ErrNotImplemented
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) error { return ErrNotImplemented }

// Retry runs a failed or cancelled job again.
func (c *Client) Retry(ctx context.Context, id string) error { return ErrNotImplemented }

// List returns a page of jobs.
func (c *Client) List(ctx context.Context, f Filter) (Page, error) { return Page{}, ErrNotImplemented }

// Stats describes every queue.
func (c *Client) Stats(ctx context.Context) ([]QueueStats, error) { return nil, ErrNotImplemented }

// Register makes h the handler of kind on c.
func Register[A, R any](c *Client, kind string, h Handler[A, R]) {}

// Work runs jobs until ctx ends.
func (c *Client) Work(ctx context.Context, opts WorkOptions) error { return ErrNotImplemented }
