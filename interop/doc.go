// Package interop holds herd's interoperability tests against real Node.js;
// it has no API of its own.
//
// The tests run the same conversations in both directions, with the same
// bytes on the wire as Node's child_process.fork:
//
//	Go parent (child.Fork, ipc.ModeNode) ──fork──▶ node testdata/child.js SCENARIO
//	node testdata/parent.js SCENARIO fork|spawn BIN ──fork/spawn──▶ BIN (this test binary)
//
// In the second direction the Go child is the test binary itself,
// re-executed with HERD_INTEROP_HELPER=SCENARIO: TestMain sees the variable,
// opens the channel with ipc.FromEnv and plays the Go side of the scenario
// instead of running the tests. Node's fork passes its modulePath as the
// first argument; the helper ignores its arguments.
//
// Each shared scenario is written once per language: the Go side in
// scenario_*_test.go, the Node side in testdata/scenarios.js. Both sides check
// what they receive, so every value is verified after crossing the channel
// in each direction:
//
//   - values: the corpus in testdata/values.json (raw U+2028 and U+2029,
//     emoji, astral characters, quotes, backslashes, control characters,
//     nesting, numbers up to 1e300, null, booleans, arrays), a 200-level
//     nesting and a 1.2 MB string;
//   - order: 10,000 messages each way at once, checked for order;
//   - bytes: Node Buffers received with Message.Bytes, SendBytes received
//     by Node as {type: 'Buffer', data} and rebuilt with Buffer.from;
//   - handles: listeners and connections passed both ways and used, several
//     in a row interleaved with ordinary messages (Node queues until
//     NODE_HANDLE_ACK; herd holds its gate), and Node's socket-count
//     queries answered;
//   - sockets: a Node server hands its connections to the Go side, which
//     holds and closes them (Node's test-child-process-fork-getconnections):
//     server.getConnections() counts what Go still holds, and
//     server.close() calls back only after Go closed the last one;
//   - dgram: UDP sockets passed both ways and used (Node's
//     test-child-process-fork-dgram): from Go, Node gets a dgram.Socket of
//     type udp4 or udp6; from Node, dgram.Socket and raw UDP handles arrive
//     as net.PacketConn;
//   - hygiene: what Go must never write to Node (empty lines, invalid
//     JSON, raw newlines) and Node's own edge cases (lone surrogates,
//     internal NODE_ messages, with or without a handle, that must not
//     reach user code).
//
// Disconnects, exit codes and Node's "advanced" serialization are tested per
// direction. Set HERD_REQUIRE_NODE=1 to make a missing node binary a failure
// instead of a skip.
package interop
