// Package ipc is a message channel between two processes over an AF_UNIX
// SOCK_STREAM socketpair: the parent keeps one end and the child inherits the
// other, as Node.js does for child_process.fork.
//
//	parent process                           child process
//	+-----------+   socketpair (fd 3 in child)   +-----------+
//	| *ipc.Conn | <============================> | *ipc.Conn |
//	+-----------+   frames + SCM_RIGHTS fds      +-----------+
//	  Send / SendBytes / SendHandle  ->  Recv
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
