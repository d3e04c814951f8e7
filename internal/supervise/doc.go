// Package supervise holds the restart policy that cluster and the herd
// command share: exponential backoff between restarts, crash-loop detection
// (failures within a sliding window, or one worker's failures in a row), and jitter for recycling deadlines.
//
// Everything here is policy and bookkeeping: the types are plain values,
// safe to copy before use, and not safe for concurrent use unless a doc
// comment says otherwise. The supervisor that owns them (one goroutine per
// cluster) decides when to call them. Reading /proc lives in
// internal/procfs, and stopping a process (a polite signal, then SIGKILL
// after a grace period) in internal/killer.
package supervise
