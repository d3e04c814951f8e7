// Package supervise holds the process-supervision rules that cluster and the
// herd command share: exponential backoff between restarts, crash-loop
// detection over a sliding window, jitter for recycling deadlines, kill
// escalation (a polite signal, then SIGKILL after a grace period) and
// per-process statistics read from /proc.
//
// Everything here is policy and bookkeeping: the types are plain values,
// safe to copy before use, and not safe for concurrent use unless a doc
// comment says otherwise. The supervisor that owns them (one goroutine per
// cluster) decides when to call them.
package supervise
