// Package demo is the program behind `herd demo`: the Node.js tutorial's
// fork server (Server, for --workers 0) and its cluster + pool system
// (RunCluster), as a product with a banner, logs and graceful shutdown. It is
// a thin layer over the public packages child, cluster and workers; the
// tutorial's code itself, written to be read and copied, is in examples/fork
// and examples/cluster-pool.
//
// The tutorial's point is that CPU-heavy work blocks Node's single event
// loop, so a server that computes in-process stops answering everyone while it
// computes; forking a worker process for the heavy part keeps it responsive.
// Go's net/http already serves each request on its own goroutine, but the
// same split still buys what goroutines cannot: the work can be killed for
// real when the client gives up, a crash or a runaway loop in it cannot take
// the server down, and its memory goes back to the system when it exits.
//
//	client ── GET /      ──▶ server: "OK" at once
//	client ── GET /heavy ──▶ server ── child.ForkSelf(HeavyRole) ──▶ worker process
//	                                   ── Task{N: 42, Limit: 1e8} ──▶   heavyCalculation
//	                         "Result is …" ◀── Reply{Result}       ◀──
//
// Each /heavy request forks a new worker, as the tutorial does, with the
// request's context: when the client goes away, or the server's grace period
// for in-flight requests runs out at shutdown, the worker's process group is
// killed and reaped before the handler returns, so no worker outlives its
// request.
//
// The worker is a function of this same binary registered under HeavyRole:
// call Register, then child.Dispatch, first thing in main.
//
// The result is printed the way JavaScript prints a number (FormatNumber),
// and the sum is accumulated in float64 like JavaScript's, so the text is
// byte for byte what the Node version answers: for the tutorial's n = 42 and
// 1e8 iterations, "Result is 209999997829288740" (not the exact integer
// 209999995800000000, which float64 cannot hold).
//
// The same port serves the tutorial's last answer, durable jobs: Jobs opens
// an embedded jobs.Client in a locked directory (OpenJobs), runs the resize
// kind (Resize: a generated PNG resized and blurred with the standard
// library, progress reported at each step) and serves the jobs HTTP API of
// package jobshttp under /jobs and /queues, plus GET /resized/{id} for the
// image. In the cluster the primary owns the jobs and serves the API on a
// Unix socket; each cluster worker forwards those paths to it.
//
//	client ── POST /jobs {"kind":"resize"} ──▶ server ── Submit ──▶ JetStream ──▶ resize worker
//	       ◀── 202 {"id"} at once ───────────
//	client ── GET /jobs/{id}/wait ──────────▶ server ── Wait (a KV watch) ◀── result stored
package demo
