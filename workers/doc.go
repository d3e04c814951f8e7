// Package workers runs CPU-heavy work off the request path: Node's
// worker_threads and Piscina for Go, with one API over two backends.
//
// A task is a named function, registered at package level so that every
// copy of the program has it:
//
//	var fib = workers.Register("fib", func(ctx context.Context, n int) (int, error) { ... })
//
// A Pool runs it, on goroutines of this process (the default) or on worker
// processes that are copies of this program, started through
// child.ForkSelf and spoken to over ipc's fast mode:
//
//	pool, _ := workers.New(fib, &workers.Options{Backend: workers.Processes, Size: 4, Timeout: time.Second})
//	n, err := pool.Run(ctx, 40)
//
//	Submit ──▶ queue (MaxQueue) ──▶ worker slots (Size × InFlight)
//	                                  │ goroutines: call the function
//	                                  │ processes:  batch ──frame──▶ worker process
//	                                  │             ◀──ack, results── (pipelined)
//	Handle.Wait ◀── outcome ◀─────────┘
//
// The goroutine backend is the cheapest. The process backend adds what no
// goroutine can give: a task can be killed. A task past Options.Timeout, or
// cancelled and still running StopGrace later, has its worker killed; a
// crash (os.Exit, a fatal signal, a runtime fatal error, an out-of-memory
// kill) fails only the task that was running, with a *WorkerExitError
// carrying the exit status and the tail of the worker's stderr; a worker
// past Options.MemoryLimit fails its task with a *WorkerExitError wrapping
// ErrMemoryLimit. The dead worker is replaced and the pool carries on.
// Workers can be recycled after MaxTasksPerWorker tasks, and their output is
// forwarded line by line with a "[name pid] " prefix.
//
// # Failure semantics on the process backend
//
// A worker acknowledges each task before it starts it.
// When a worker dies, tasks it had been sent but had not acknowledged are
// put back at the head of the queue and run elsewhere, so they are not
// affected. Tasks it had started fail: with InFlight = 1 (the default) that
// is only the task that crashed it; with InFlight > 1 every task running in
// that process at the time fails with the same *WorkerExitError (or
// *TimeoutError for the one that timed out), since a process cannot tell
// which of its tasks brought it down. Tasks are never run twice. A panic is
// recovered where it happens, on both backends, and fails only its task
// with a *PanicError; the worker lives on.
//
// # Cancellation
//
// The context given to Submit or Run belongs to the task. Cancelling it
// removes a queued task; a running task sees its context cancelled, and on
// the process backend its worker is told to cancel it and is killed if the
// task is still running StopGrace later. Either way Wait returns the
// context's error at once. A goroutine task that ignores its context keeps
// running (and keeps its worker slot) until it returns: only the process
// backend can really stop a task.
//
// # Thread and SharedBuffer
//
// Start runs a single long-lived function (Node's new Worker with
// workerData) on either backend, exchanging messages both ways through a
// Port. SharedBuffer (package workers/shm) is memory shared with worker
// processes, with atomics and futex-based Wait/Notify, like
// SharedArrayBuffer and Atomics; pass buffers in Options.Shared or
// ThreadOptions.Shared and reach them with SharedBuffers(ctx).
//
// # Setup for the process backend
//
// Worker processes are this same program started with a role, so main
// must call child.Dispatch first thing (and TestMain, in tests):
//
//	func main() {
//		child.Dispatch() // in a worker process this never returns
//		...
//	}
//
// Inputs and outputs cross the process boundary encoded with encoding/json
// ([]byte travels raw), up to the channel's 16 MiB message limit.
package workers

import "github.com/herdrun/herd/workers/shm"

// SharedBuffer is shared memory with atomics and futex wait/notify; see
// package workers/shm. Make one with shm.New (shareable with worker
// processes) or shm.NewLocal (goroutines only).
type SharedBuffer = shm.Buffer
