// Package testutil holds the helpers that herd's tests share, so that each
// package's tests keep only what is particular to them.
//
// The tests run real processes, sockets and Node on a Linux machine that
// other test runs load at the same time, so the helpers look at the system
// rather than at timing:
//
//   - processes: Gone and WaitGone read /proc/<pid>/stat (a zombie counts as
//     gone, since it runs no code), GroupGone asks the kernel whether a
//     process group is empty, ChildrenOf and AllChildrenOf read
//     /proc/<pid>/task/*/children, CountFDs counts /proc/self/fd;
//   - waiting: WaitFor polls a condition until WaitTimeout, a generous bound
//     for a shared machine, and fails the test with what it waited for;
//   - output: SyncBuffer collects what a process or goroutine writes while
//     the test reads it;
//   - outside programs: RequireNode skips a test without node or without
//     the npm packages it needs (or fails it when HERD_REQUIRE_NODE=1),
//     naming the cause and the command that fixes it (TestCommand, the
//     README's test command, installs the packages); BuildGo builds a Go
//     package into the test's temporary directory;
//   - HTTP: Get and HTTPClient make requests on fresh connections, so no idle
//     connection outlives a test, and FreePort finds a port on 127.0.0.1;
//   - leaks: VerifyTestMain runs a package's tests under goleak, ignoring
//     child's starter goroutine, which lives as long as the process.
//
// Helpers that can fail take a testing.TB and end the test with t.Fatal;
// the others return values for the test to judge. The package imports no
// herd package but internal/procfs, which reads /proc for it, so that the
// tests of every package, child's included, can use it without an import
// cycle.
package testutil
