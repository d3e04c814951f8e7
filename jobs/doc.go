// Package jobs runs durable jobs on NATS JetStream: submit work, get an ID
// back at once, and check, wait for, watch, cancel or retry the job from
// any process, while workers in any number of processes run it.
//
// # Model
//
// A job has a kind (a name with a registered Handler), JSON arguments, a
// queue, a priority and a few limits (SubmitOptions). Submit stores it and
// returns its ID, a ULID, so IDs sort in submission order. A worker
// (Client.Work) takes jobs from its queues and runs each with the handler
// of its kind; a handler's result is stored as JSON, its error as text.
// A job moves through these states:
//
//	          ┌──────────── Cancel ─────────────┐
//	          │                                  ▼
//	scheduled ─► queued ─► running ─► succeeded │ failed │ cancelled
//	                ▲         │
//	                └─ retrying ◄┘ (error, panic, timeout, lost worker;
//	                               backoff with jitter; MaxAttempts)
//
// Retry starts a failed or cancelled job again as a new generation; a
// cancel of the old generation never reaches the new one.
//
// # Streams and consumers
//
// Everything lives under a prefix (Config.Prefix, "herd" by default):
//
//	Submit ──► stream herd_work (work queue, file store, dedupe window 10 min)
//	           subjects herd.work.<queue>.<level>.<id>     a job that may run now
//	                    herd.sched.<queue>.<level>.<id>    a job waiting for RunAt
//	                      (Nats-Schedule "@at": JetStream itself moves it to
//	                       herd.work... at that time)
//	                    herd.sched.keep   one message no consumer takes: the
//	                      stream never empties, so its file is not re-created
//	           consumers w_<queue>_<level>, one per queue and priority level
//	             (0 low … 3 critical): durable, pull, explicit ack,
//	             AckWait = Config.AckWait, MaxDeliver = MaxAttemptsLimit+1
//	                 │ pull requests (no-wait, highest level first;
//	                 ▼ a waiting one per level when all are empty)
//	           worker ──► handler
//	                 │ heartbeats (InProgress) every AckWait/4 while it runs,
//	                 │ from one loop per worker
//	                 ▼
//	KV herd_jobs   key <id> = the job's record, written with compare-and-swap:
//	               the outcome (published asynchronously; the work message
//	               is acknowledged once it is stored), and the running
//	               state of an attempt that runs longer than 50 ms, reports
//	               progress, or is not the job's first delivery (stored
//	               before its handler starts)
//	KV herd_kinds  the kinds that workers registered (Submit checks them)
//	KV herd_unique unique keys, each with its own TTL
//	OS herd_results results larger than DefaultInlineResult
//	stream herd_tokens  GlobalConcurrency tokens, one message per token
//	core herd.cancel    cancel broadcasts: "<id> <generation>"
//	advisory $JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.herd_work.*
//
// A job that waits has no record yet: its work message is its record, and
// Get reads it from the stream by subject. So a submit is one stored
// message (its Nats-Msg-Id is the job ID, so a retried Submit never makes
// two jobs). A short first attempt adds one record write, its outcome,
// which carries when it started and on which worker: until then its
// delivery is its running state (Get, Watch, List and Cancel see that the
// queue's consumer has delivered the message). A longer or later attempt
// adds the running record too.
//
// Wait and Watch do not poll: each Client keeps one watch of herd_jobs and
// hands every change to the waiters of that job, so 10,000 waiters cost a
// map entry and a channel each.
//
// # Guarantees
//
// A job is run at least once and, while its worker lives and heartbeats, by
// one worker at a time. A worker that dies loses its jobs after AckWait;
// they run again, as their next attempt. A job whose message reaches
// MaxDeliver deliveries is marked failed from the max-deliveries advisory
// and its message removed. A delivery put back before its handler ran (a
// worker without the kind, a shutdown, held too long) is no attempt: the
// job gets a record first. A job with no record that is delivered again
// lost its worker during an attempt (its first attempt stores nothing
// before its outcome), so each such delivery counts as an attempt.
// A cancelled job is never retried. A job cancelled while it waits (Get
// says queued or scheduled: no worker has taken it) never starts: the
// cancel broadcasts to the workers before it creates the job's record, and
// a worker that takes the message after the broadcast acknowledges it
// unrun; the worker's own record (its outcome, or the running state of a
// later attempt) is created with compare-and-swap too, and only one create
// succeeds. A running job's ctx is cancelled on whichever process runs it,
// within milliseconds on one machine.
//
// # Moving between stores
//
// JetStream cannot turn a single server into a cluster in place (its
// streams stay behind: nats-server #5467, #3267), so start on a cluster if
// you will need one. To move anyway, Client.Export writes every job (those
// that wait, run or ended, results included), the kinds and the unique
// keys as versioned JSON lines, and Client.Import reads them into another
// store, keeping each job's ID: importing twice stores nothing twice.
// Config.WithEnv finds the store from the environment (HERD_JOBS_NATS,
// HERD_JOBS_DIR, ...), as the herd command and the apps it runs do.
//
// The embedded server (Config.Dir) syncs its files every SyncInterval (1 s
// by default, like Redis's appendfsync everysec): a machine crash may lose
// the last second of submits and outcomes; a process crash loses nothing.
package jobs
