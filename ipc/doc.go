// Package ipc is a message channel between two processes over an AF_UNIX
// SOCK_STREAM socketpair: the parent keeps one end and the child inherits the
// other, as Node.js does for child_process.fork.
//
//	parent process                           child process
//	+-----------+   socketpair (fd 3 in child)   +-----------+
//	| *ipc.Conn | <============================> | *ipc.Conn |
//	+-----------+   frames + SCM_RIGHTS fds      +-----------+
//	  Send / SendBatch / SendBytes / SendHandle  ->  Recv
//
// # Wire modes
//
// A channel speaks one of two framings, chosen by the parent at start-up:
//
//   - ModeNode (the zero value) is byte-for-byte Node's "json" serialization:
//     each message is JSON.stringify(msg) followed by "\n". The child finds the
//     channel in NODE_CHANNEL_FD, so a Node parent can fork a Go program and a Go
//     parent can fork `node script.js`, and both use process.send and
//     process.on('message') unchanged. Node's internal messages (objects whose
//     cmd starts with "NODE_") never reach the caller; the handle-passing
//     acknowledgement protocol (NODE_HANDLE, NODE_HANDLE_ACK, NODE_HANDLE_NACK)
//     is followed in both directions. An empty line or invalid JSON crashes a
//     Node peer, so Conn never writes one.
//   - ModeFast is for two herd processes. A frame is a 6-byte header (4-byte
//     big-endian payload length, a kind byte 'J' or 'B', a handle-type byte)
//     followed by the payload. Raw bytes travel as they are, with no JSON or
//     base64, so a large payload costs one copy on each side.
//
// The parent offers ModeFast through the environment (HERD_IPC_MODE=fast and
// HERD_IPC_PARENT=<its pid>); a child accepts only when its parent pid matches,
// so a Node process in between, which passes its environment on, can never
// cause a mismatch. A Node peer always gets ModeNode.
//
// # Handles
//
// SendHandle passes an *os.File, a net.Listener, a net.Conn or a
// net.PacketConn along with a message (SCM_RIGHTS in the same sendmsg). The
// receiver gets the same Go type in Message.Handle and owns it.
//
// With a Node peer the handles travel as Node's own do: a UDP socket goes as
// a dgram.Socket with its dgramType, and the sockets of a Node server that
// the peer shares are counted per server until the receiver closes them, so
// that the server's getConnections() and close() in the Node process see
// them (Node's NODE_SOCKET_GET_COUNT and NODE_SOCKET_NOTIFY_CLOSE).
//
// # Sending many messages
//
// Send writes each message with its own write(2) and returns once it is in
// the kernel, so a process may exit right after it and the message still
// arrives. That system call, and the peer's wake-up for each message,
// bound how many small messages one goroutine can send per second.
// SendBatch (and SendBytesBatch for byte payloads) encodes many messages
// into one buffer and writes it with one system call when the socket has
// room, keeping the same guarantee for the whole batch; the peer receives
// separate messages, in order, and may read many with one recvmsg. For
// messages of a few bytes this is several times the throughput of Send in
// a loop (see bench/README.md), at the cost of holding the batch in
// memory and of the caller choosing when to flush. A batch is
// all-or-nothing before it is written: an element that fails to encode or
// is over MaxMessageSize fails the call and nothing is sent. Handles never
// travel in a batch: SendHandle keeps its own write, so descriptors stay
// attached to their messages in order.
//
// Node's process.send looks cheaper only because it returns before the
// write: it still makes one write per message, and queues what the socket
// does not take. herd does not queue behind the caller's back, only when
// asked: with Options.SendQueue, Send and SendBytes copy the message into
// a bounded queue and return, and a writer goroutine writes everything
// queued with one system call, so a loop of Sends shares its writes
// without a batch in the caller's hands. The message is then in the kernel
// only once Flush returns, and a write error surfaces at the next Send or
// Flush. Coalescing the writes of concurrent Send calls while each waits
// for its own write (a group commit) was measured and left out: it does
// nothing for one goroutine sending in a loop, and with eight goroutines
// it gained about a third, because each waiting sender still costs a
// goroutine wake-up.
//
// # Receiving without allocating
//
// Recv returns each message in a slice of its own, which the caller may
// keep. A caller that is done with each message before it asks for the
// next (it decodes it, or checks a payload and drops it) can use RecvView
// instead: the message's Data is then a view of the Conn's receive
// buffers, valid until the next Recv or RecvView call, and a stream of
// messages costs no allocation per message for the bytes received. For
// large payloads this matters most: with Recv each 64 KiB payload is a
// new 64 KiB slice, and a stream of them keeps the garbage collector
// busy (see bench/README.md).
//
// # Waiting for the socket
//
// The channel's descriptor is not registered with the Go runtime's network
// poller. A goroutine that must wait, a Recv for the next message or a
// Send for room in a full socket, waits in epoll_pwait(2) on a small epoll
// set of its own, on its own thread, and the kernel wakes that thread
// directly: through the runtime poller the
// same wake-up goes to the thread in epoll_wait first, which then hands
// the goroutine to a thread that runs it, and on a round trip of small
// messages that hop cost about a third of the time. The price is an OS
// thread per waiting call: each Conn whose reader waits holds one (the
// runtime starts threads as needed), and a context or Close still ends
// every wait at once.
//
// # Limits and errors
//
// Messages larger than Options.MaxMessageSize are refused on send and, on
// receive, end the channel with a *ProtocolError wrapping ErrTooLarge. Any
// malformed input from the peer (an empty line, invalid JSON, an unknown frame
// kind, a truncated frame) ends the channel with a *ProtocolError; it never
// panics, hangs or grows memory without bound. Received but unread messages
// are bounded in bytes, so a sender to a slow reader blocks: Send honours its
// context while it waits. When the peer closes its end, or its process dies,
// Recv returns ErrDisconnected and Done is closed.
package ipc
