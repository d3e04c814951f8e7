package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults used when a Config, SubmitOptions, QueueConfig or WorkOptions
// field is left at its zero value.
const (
	DefaultPrefix          = "herd"
	DefaultQueue           = "default"
	DefaultSyncInterval    = time.Second
	DefaultMaxQueueDepth   = 1_000_000
	DefaultMaxAttempts     = 3
	DefaultTimeout         = 30 * time.Minute
	DefaultUniqueTTL       = 24 * time.Hour
	DefaultAckWait         = 30 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultDuplicateWindow is how long the work stream remembers a job ID
	// (its Nats-Msg-Id): a Submit retried with the same ID within it makes
	// no second job.
	DefaultDuplicateWindow = 10 * time.Minute
	// MaxAttemptsLimit is the largest MaxAttempts a job may ask for; the
	// work consumers deliver a message at most MaxAttemptsLimit+1 times.
	MaxAttemptsLimit = 100
	// DefaultInlineResult is the largest result (JSON bytes) kept in the
	// job's record; larger results go to the object store.
	DefaultInlineResult = 64 << 10
)

// Config says where the jobs live. Exactly one of Dir and URLs is set.
type Config struct {
	// Dir runs an embedded NATS server with its JetStream file store in this
	// directory (created if missing). The server listens on no port unless
	// Listen is set; the client talks to it in-process.
	Dir string
	// Listen, with Dir, also serves the embedded server on this TCP address
	// (such as "127.0.0.1:0") so that other processes can connect to URL.
	Listen string
	// URLs connects to an existing NATS deployment with JetStream.
	URLs []string
	// Prefix names the streams, buckets and subjects; DefaultPrefix if empty.
	// It must be a single subject token ([A-Za-z0-9_-]).
	Prefix string
	// SyncInterval is how often the embedded file store syncs to disk;
	// DefaultSyncInterval (1 s, like Redis's appendfsync everysec) if zero.
	SyncInterval time.Duration
	// Replicas is the stream replica count on a cluster; 0 means 1.
	Replicas int
	// MaxQueueDepth bounds the jobs waiting in one queue; a Submit beyond it
	// fails with *QueueFullError. 0 means DefaultMaxQueueDepth.
	MaxQueueDepth int
	// AckWait is how long a running job may go without a heartbeat before
	// JetStream hands it to another worker (the worker that runs it sends
	// one every AckWait/4). 0 means DefaultAckWait. Every client of a Prefix
	// should use the same value: the consumers keep the first one.
	AckWait time.Duration
	// WorkerName is shown in Info.Worker; hostname:pid if empty.
	WorkerName string
	// Logger receives warnings (a state write that failed, an advisory);
	// slog.Default() if nil.
	Logger *slog.Logger
}

// Priority orders jobs within a queue: a worker takes every waiting job of
// a higher priority before one of a lower priority.
type Priority int

// The priorities, lowest first. The zero value is PriorityNormal.
const (
	PriorityLow      Priority = -1
	PriorityNormal   Priority = 0
	PriorityHigh     Priority = 1
	PriorityCritical Priority = 2
)

// levels is the number of priorities.
const levels = 4

func (p Priority) level() int { return int(p) + 1 }

// String returns "low", "normal", "high" or "critical".
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityCritical:
		return "critical"
	}
	return fmt.Sprintf("Priority(%d)", int(p))
}

// SubmitOptions are a job's settings. The zero value is a normal-priority
// job on DefaultQueue that may run now, DefaultMaxAttempts times, for at
// most DefaultTimeout each.
type SubmitOptions struct {
	// ID is the job's ID; a new ULID if empty. Give one to make a Submit
	// safe to retry: a second Submit with the same ID within
	// DefaultDuplicateWindow returns the ID and makes no second job. It
	// must be a ULID (26 characters of Crockford base 32).
	ID string
	// Queue is the queue's name ([A-Za-z0-9_-]); DefaultQueue if empty.
	Queue string
	// Priority orders the job within its queue.
	Priority Priority
	// Delay makes the job wait this long before it may run.
	Delay time.Duration
	// RunAt makes the job wait until this time; it wins over Delay.
	RunAt time.Time
	// MaxAttempts bounds the runs; 0 means DefaultMaxAttempts, at most
	// MaxAttemptsLimit. A run that ends in an error, a panic or a timeout,
	// or whose worker dies, is an attempt.
	MaxAttempts int
	// Timeout bounds each attempt; 0 means DefaultTimeout.
	Timeout time.Duration
	// UniqueKey makes the job unique: while the key lives (UniqueTTL from
	// the first Submit), a Submit with the same key returns the first job's
	// ID and makes no job.
	UniqueKey string
	// UniqueTTL is how long UniqueKey lives; 0 means DefaultUniqueTTL.
	UniqueTTL time.Duration
}

// Request is one job for SubmitMany.
type Request struct {
	// Kind is the job's kind, as Submit's kind.
	Kind string
	// Args are the job's arguments, as Submit's args: encoded as JSON.
	Args any
	// Options are the job's settings, as Submit's.
	Options SubmitOptions
}

// State is where a job is in its life.
type State string

// The states. A job starts queued (or scheduled, with a Delay or RunAt),
// runs, and ends succeeded, failed (after its last attempt) or cancelled;
// between attempts it is retrying.
const (
	StateQueued    State = "queued"
	StateScheduled State = "scheduled"
	StateRunning   State = "running"
	StateRetrying  State = "retrying"
	StateSucceeded State = "succeeded"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Final reports whether s is an end state: succeeded, failed or cancelled.
func (s State) Final() bool {
	return s == StateSucceeded || s == StateFailed || s == StateCancelled
}

// Info is what is known of a job.
type Info struct {
	// ID is the job's ID, a ULID.
	ID string `json:"id"`
	// Kind is the job's kind: the name its handler is registered under.
	Kind string `json:"kind"`
	// Queue is the queue the job is in.
	Queue string `json:"queue"`
	// Priority is the job's priority in its queue.
	Priority Priority `json:"priority"`
	// State is where the job is in its life.
	State State `json:"state"`
	// Attempt is the number of the attempt running or last run, from 1;
	// 0 before the first.
	Attempt int `json:"attempt"`
	// MaxAttempts is how many attempts the job may have.
	MaxAttempts int `json:"max_attempts"`
	// Progress is the fraction, in [0, 1], that the handler last reported
	// (Job.Progress); 1 once the job succeeded.
	Progress float64 `json:"progress"`
	// Note is the note the handler last reported with its progress.
	Note string `json:"note,omitempty"`
	// Args are the job's arguments, as JSON.
	Args json.RawMessage `json:"args,omitempty"`
	// Result is a succeeded job's result, as JSON.
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the error of the job's latest failed attempt, or why it was
	// cancelled or failed without one (its worker lost); "" once it
	// succeeded.
	Error string `json:"error,omitempty"`
	// Created is when the job was submitted.
	Created time.Time `json:"created,omitzero"`
	// Started is when its latest attempt started; zero before the first,
	// and while a first attempt runs whose start is not stored yet (a
	// worker stores a short first attempt's start with its outcome).
	Started time.Time `json:"started,omitzero"`
	// Finished is when it ended (succeeded, failed or cancelled); zero
	// until then.
	Finished time.Time `json:"finished,omitzero"`
	// RunAt is when a job submitted with a Delay or RunAt may first run;
	// zero for one that may run at once.
	RunAt time.Time `json:"run_at,omitzero"`
	// Worker is the name of the worker (Config.WorkerName) running the
	// job, or that last ran it; like Started, "" until it is stored.
	Worker string `json:"worker,omitempty"`
}

// Filter selects jobs for List. Empty fields match every job.
type Filter struct {
	// State selects the jobs in this state.
	State State
	// Queue selects the jobs of this queue.
	Queue string
	// Kind selects the jobs of this kind.
	Kind string
	// Limit bounds the page; 0 means 100.
	Limit int
	// Cursor is a Page.Next from an earlier List: the page starts after it
	// (before it, with Newest).
	Cursor string
	// Newest lists the newest jobs first: in descending ID (submission)
	// order. The zero value lists the oldest first.
	Newest bool
}

// Page is one page of List, in ID (submission) order, or in the reverse
// order with Filter.Newest.
type Page struct {
	// Jobs are the page's jobs, in the page's order.
	Jobs []Info `json:"jobs"`
	// Next is the cursor for the next page; "" at the end.
	Next string `json:"next,omitempty"`
}

// QueueStats describes one queue.
type QueueStats struct {
	Queue     string `json:"queue"`     // the queue's name
	Depth     int    `json:"depth"`     // jobs waiting to run now
	Scheduled int    `json:"scheduled"` // jobs waiting for their time
	Running   int    `json:"running"`   // jobs running or between attempts
	Succeeded uint64 `json:"succeeded"` // jobs the store holds that succeeded
	Failed    uint64 `json:"failed"`    // jobs the store holds that failed
	Cancelled uint64 `json:"cancelled"` // jobs the store holds that were cancelled
	Retried   uint64 `json:"retried"`   // attempts after the first, over all jobs
	// SubmitRate is the jobs submitted in the last minute, per second.
	SubmitRate float64 `json:"submit_rate"`
	// CompleteRate is the jobs that ended in the last minute, per second.
	CompleteRate float64 `json:"complete_rate"`
}

// Sentinel errors.
var (
	// ErrNotFound: no job has the ID.
	ErrNotFound = errors.New("jobs: job not found")
	// ErrUnknownKind: no worker has registered the kind and this client has
	// not declared it.
	ErrUnknownKind = errors.New("jobs: unknown kind")
	// ErrClosed: the Client is closed.
	ErrClosed = errors.New("jobs: client closed")
	// ErrQueueFull is matched (errors.Is) by *QueueFullError.
	ErrQueueFull = errors.New("jobs: queue full")
	// ErrCancelled is the cause (context.Cause) of a running job's context
	// when the job is cancelled.
	ErrCancelled = errors.New("jobs: job cancelled")
)

// QueueFullError is returned by Submit when the queue holds Max jobs.
type QueueFullError struct {
	// Queue is the full queue.
	Queue string
	// Depth is the jobs waiting in it; Max is its bound.
	Depth, Max int
	// RetryAfter is how long to wait before submitting again.
	RetryAfter time.Duration
}

// Error returns a line naming the queue, its depth and bound, and
// RetryAfter.
func (e *QueueFullError) Error() string {
	return fmt.Sprintf("jobs: queue %q is full (%d of %d jobs waiting); retry after %v", e.Queue, e.Depth, e.Max, e.RetryAfter)
}

// Is makes errors.Is(err, ErrQueueFull) true.
func (e *QueueFullError) Is(target error) bool { return target == ErrQueueFull }

// StateError is returned when an operation does not apply to a job in its
// current state (Retry of a running job, Cancel of a succeeded one).
type StateError struct {
	// ID is the job's ID.
	ID string
	// State is the job's state, in which Op does not apply.
	State State
	// Op is the operation, such as "retry" or "cancel".
	Op string
}

// Error returns "jobs: cannot <Op> job <ID>: it is <State>".
func (e *StateError) Error() string {
	return fmt.Sprintf("jobs: cannot %s job %s: it is %s", e.Op, e.ID, e.State)
}

// ValidationError names a bad SubmitOptions (or HTTP) field.
type ValidationError struct {
	// Field names the bad field (or environment variable); Problem says
	// what is wrong with it and what to write instead.
	Field, Problem string
}

// Error returns "jobs: <Field>: <Problem>".
func (e *ValidationError) Error() string {
	return fmt.Sprintf("jobs: %s: %s", e.Field, e.Problem)
}

// UnknownKindError is returned by Submit for a kind no worker registered; it
// matches ErrUnknownKind.
type UnknownKindError struct {
	// Kind is the unknown kind.
	Kind string
}

// Error returns a line naming the kind and how to make it known.
func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("jobs: unknown kind %q: register a handler for it (Register) in a worker, or Declare it on this client", e.Kind)
}

// Is makes errors.Is(err, ErrUnknownKind) true.
func (e *UnknownKindError) Is(target error) bool { return target == ErrUnknownKind }
