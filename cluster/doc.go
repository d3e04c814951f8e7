// Package cluster runs a network server as several processes of the same
// program that share its listening sockets — Node's cluster module, with the
// supervision of gunicorn or Puma: respawn with backoff, crash-loop
// detection, graceful stop, readiness-gated rolling reload, heartbeats,
// recycling and scaling.
//
//	                       primary (supervises; never serves)
//	:3000 opened once ──▶ ┌──────────────────────────────────┐ ◀── SIGHUP reload
//	                      │ listeners   slots   heartbeats   │ ◀── SIGTERM/SIGINT stop
//	                      └──┬─────────────┬─────────────┬───┘ ◀── SIGTTIN/SIGTTOU ±1
//	     fd 3 (same socket)  │ ipc channel │             │
//	     LISTEN_FDS=1        ▼             ▼             ▼
//	                     worker 1      worker 2   ...  worker N   (this program again)
//	                     Accept()      Accept()        Accept()
//
// # The model
//
// The same binary is the primary and the workers. Call Run in main; in the
// primary it starts Config.Workers copies of the program (os.Executable, as
// it is on disk now) and supervises them, and in a worker it runs the
// WorkerFunc and exits. Code before Run runs in both, as in Node.
//
//	func main() {
//		err := cluster.Run(ctx, cluster.Config{Listen: []cluster.Addr{{Address: ":3000"}}},
//			func(ctx context.Context, w *cluster.Worker) error {
//				ln, err := w.Listen("tcp", ":3000")
//				if err != nil {
//					return err
//				}
//				return w.Serve(ctx, ln, handler)
//			})
//		if err != nil {
//			log.Fatal(err)
//		}
//	}
//
// A worker's context is cancelled when it must drain; Worker.Serve then stops
// accepting, finishes the requests in flight and returns.
//
// # Listeners
//
// The primary opens every address of Config.Listen before any worker starts,
// so a port in use fails Run at once with a *ListenError. Under the default
// PolicyShared every worker inherits the same socket as fd 3, 4, ... with the
// systemd socket-activation variables LISTEN_FDS, LISTEN_FDNAMES and
// LISTEN_PID, so there is one accept queue: a worker that dies, restarts or
// is reloaded loses no queued connection, and any activation-aware program,
// in any language, can be a worker (Config.Command). Such a program needs
// LISTEN_PID to equal its own pid, which is unknown before the fork: the
// primary starts it through `/bin/sh -c 'LISTEN_PID=$$; export LISTEN_PID;
// exec "$0" "$@"'`, and exec keeps the pid. Go workers of this package set
// LISTEN_PID themselves.
//
// A program of this package started by a supervisor that opened its
// listeners already (`herd run -p PORT`, systemd socket activation: LISTEN_PID
// is its pid) neither binds the port again nor forks workers: Run serves as
// the only worker over the inherited sockets, Worker.Listen matching each
// Config.Listen address to the inherited socket with its port or
// LISTEN_FDNAMES name. Readiness goes to herd over its channel, or to
// $NOTIFY_SOCKET (sd_notify) when there is none, so herd run's --ready
// message and notify both work unchanged.
//
// PolicyReusePort gives each worker its own SO_REUSEPORT socket and queue:
// connections waiting in the queue of a worker that exits are reset.
// PolicyDispatch has the primary accept and pass each connection's descriptor
// to the worker with the fewest open connections, or with Config.Sticky to
// the worker picked by the client's IP address; connections a draining worker
// has not accepted go back to the primary for another worker.
//
// Measured on 2 shared cores with two workers and a new connection per
// request (bench/cluster.md, medians of 5 alternating rounds), max/min
// requests per worker was 1.11 for the shared socket, 1.02 for SO_REUSEPORT
// and 1.03 for dispatch; new-connection throughput was 6.7k, 9.1k and 5.8k
// req/s. PolicyShared is the default: it is well within the 1.5 target,
// costs the primary nothing per connection, is the only policy under which
// a restart or reload can never reset a queued connection while any
// activation-aware program can be a worker. Pick PolicyReusePort for raw
// connection rate when a reset during reloads is acceptable, and
// PolicyDispatch for exact balance or sticky sessions.
//
// # Supervision
//
// A worker that exits unexpectedly is respawned in its slot at once, then,
// if it keeps failing, after Config.BackoffInitial doubling up to
// Config.BackoffMax; a worker that stayed up for Config.MinUptime starts the
// backoff afresh. More than Config.CrashLoopMax failures within
// Config.CrashLoopWindow, or more than Config.CrashLoopMax failures of one
// slot in a row without a stable run (so that one worker is given up on
// whatever its backoff), is a crash loop: the primary stops respawning,
// drains the cluster and Run returns a *CrashLoopError. A stable worker
// that exits cleanly (code 0, or a SIGTERM someone else sent, as from
// kill <pid>) is no failure: it is respawned at once. A worker that fails
// while the cluster boots fails Run with a *BootError carrying its error.
//
// Reload (and SIGHUP) replaces workers one slot at a time: the new worker
// must be ready within Config.ReadyTimeout before the old one drains, or the
// reload stops with a *ReloadError and the old workers stay. A worker is
// ready on its first Listen, or when it calls Worker.Ready with
// Config.ManualReady. Workers send a heartbeat over the channel (never a
// file); one that stays silent past Config.HeartbeatTimeout is killed and
// replaced. Config.MaxLifetime and Config.MaxRequests recycle workers the same
// way as a reload, with jitter. A Reload or SIGHUP that comes while a reload
// runs queues exactly one more, which later ones join; the log says so.
//
// A Go worker of this package drains by itself, but a Command program may
// die at once on SIGTERM (Python's and Node's default, a Go program that
// does not handle it), losing the connections it has accepted and not yet
// answered. So before the primary signals a Command worker it replaces, it
// quiesces it: it stops the worker's process group (SIGSTOP: a stopped
// process takes no connection from the shared queue, the other workers do),
// looks at its sockets (pidfd_getfd, Linux 5.6), and signals it, still
// stopped, only when it holds no connection in use; otherwise it resumes it,
// waits until the connections it holds are answered, and tries again, for
// up to Config.QuiesceTimeout. The signal goes to each process's main
// thread, which runs it first on SIGCONT. Five reloads of two workers under
// new-connection load lost 10 of 3,297 requests for Python's http.server,
// 38 of 490 for Go's net/http and 32 of 2,959 for Node's http without it,
// and none with it. A Go program that does not handle SIGTERM dies from
// its runtime's handler while its other threads run on; so that none of
// them accepts once more, the primary also lowers the RLIMIT_NOFILE of a
// Go worker it signals to its lowest free descriptor until it is gone
// (accept(2) then fails with EMFILE and leaves the connection queued), or
// for 100ms once it shows that it handles SIGTERM itself (see
// quiesce_clamp.go). Workers get SIGKILL from the kernel when the
// primary dies, even by SIGKILL, and their context ends when its channel
// closes.
//
// Events (fork, online, listening, ready, message, disconnect, exit) reach
// Config.OnEvent; Workers lists the live workers with their uptime,
// restarts, RSS and CPU time; Broadcast and Send message them; Scale, Reload
// and Shutdown drive the cluster.
package cluster
