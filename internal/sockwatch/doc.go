// Package sockwatch tells from /proc whether a process has started to wait
// for connections on a listening socket it inherited.
//
// herd passes a listening socket to a program it did not write (socket
// activation) and wants to know when that program serves, without any help
// from it. A socket that is merely inherited says nothing: every instance
// holds it from its first instruction. What changes is how the program uses
// it, and Linux shows that in /proc:
//
//   - an event loop (Go's netpoller, libuv, epoll-based Python, Rust, Java
//     and Ruby servers) adds the socket to an epoll set; the set's fdinfo
//     lists each watched file with its inode;
//   - a blocking server sits in accept(2) or accept4(2) on the socket's fd,
//     which /proc/<pid>/task/<tid>/syscall shows;
//   - a select(2) or poll(2) server sits in one of those while it holds the
//     socket (their fd sets are not visible, so this one is a guess).
//
// Accepting looks for any of these in a process and its descendants. A Go
// program registers a listener with its netpoller when it builds the
// net.Listener, which is usually just before Serve; a connection that
// arrives in between waits in the socket's accept queue, so nothing is lost.
//
// ListenInodes finds the inodes of listening TCP sockets by port in
// /proc/net/tcp and /proc/net/tcp6. Reading another process's syscall file
// needs the right to ptrace it, which a parent has over its children. The
// files are read through internal/procfs; the parsers of their contents,
// which only this package needs, are here.
package sockwatch
