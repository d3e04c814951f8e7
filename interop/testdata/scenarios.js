'use strict';
// The Node side of the scenarios shared with the Go side (peer_test.go,
// scenario_*_test.go). Each takes a Peer and throws on the first thing that
// is not as it should be. They run unchanged in a Node child (child.js) and
// in a Node parent (parent.js).

const net = require('node:net');
const dgram = require('node:dgram');
const assert = require('node:assert/strict');
const { corpus, bytePayloads, once } = require('./lib');

const ORDER_COUNT = 10000;

async function values(peer) {
  const c = corpus();
  for (let i = 0; i < c.length; i++) {
    const { msg, handle } = await peer.next(`value ${i}`);
    assert.equal(handle, undefined, `value ${i} came with a handle`);
    assert.deepStrictEqual(msg, c[i], `value ${i}: got ${JSON.stringify(msg)?.slice(0, 200)}`);
  }
  await Promise.all(c.map((v) => peer.send(v)));
  await peer.finish({ done: 'values', received: c.length });
}

async function order(peer) {
  const sends = [];
  for (let i = 0; i < ORDER_COUNT; i++) sends.push(peer.send({ seq: i, from: 'node' }));
  for (let i = 0; i < ORDER_COUNT; i++) {
    const { msg, handle } = await peer.next(`message ${i}`);
    if (msg === null || typeof msg !== 'object' || msg.seq !== i || msg.from !== 'go' || handle) {
      throw new Error(`message ${i}: got ${JSON.stringify(msg)}`);
    }
  }
  await Promise.all(sends);
  await peer.finish({ done: 'order', received: ORDER_COUNT });
}

async function bytes(peer) {
  const payloads = bytePayloads();
  for (let i = 0; i < payloads.length; i++) {
    const { msg } = await peer.next(`buffer ${i}`);
    assert.equal(msg.type, 'Buffer', `buffer ${i}: type`);
    assert.ok(Array.isArray(msg.data), `buffer ${i}: data is not an array`);
    assert.ok(Buffer.from(msg.data).equals(payloads[i]), `buffer ${i}: Buffer.from(obj.data) differs`);
    assert.ok(Buffer.from(msg).equals(payloads[i]), `buffer ${i}: Buffer.from(obj) differs`);
  }
  await Promise.all(payloads.map((b) => peer.send(b)));
  await peer.finish({ done: 'bytes', received: payloads.length });
}

async function handles(peer) {
  // 1. Go sends a listener: serve on it.
  const goServer = await peer.expect('go-server', { step: 'go-server' });
  assert.ok(goServer instanceof net.Server, `go-server: handle is ${goServer?.constructor?.name}`);
  goServer.on('connection', (s) => s.end('served by node'));
  await peer.send({ step: 'go-server-ready' });

  // 2. Go sends an accepted connection (once it has been served above).
  const goSocket = await peer.expect('go-socket', { step: 'go-socket' });
  await closeServer(goServer);
  assert.ok(goSocket instanceof net.Socket, `go-socket: handle is ${goSocket?.constructor?.name}`);
  const ping = await readAtLeast(goSocket, 'ping from go'.length);
  goSocket.end(`pong from node: ${ping}`);

  // 3. Send a listening server; close this copy, so only Go accepts.
  const server = await listen(net.createServer());
  const { port } = server.address();
  await peer.send({ step: 'node-server', port }, server);
  await closeServer(server);
  await peer.send({ step: 'node-server-closed' }); // queued until Go's ACK
  await peer.expect('dial', { step: 'dial' });
  const served = await connectAndRead(port);
  await peer.send({ step: 'dial-result', data: served });

  // 4. Send a server-side socket. The server then tracks it through the
  // channel: getConnections and close ask the peer.
  const server2 = await listen(net.createServer());
  const accepted = once(server2, 'connection');
  const client = net.connect(server2.address().port, '127.0.0.1');
  const [serverSide] = await accepted;
  await peer.send({ step: 'node-socket' }, serverSide);
  const hello = await readAtLeast(client, 'hello from go\n'.length);
  assert.equal(hello, 'hello from go\n');
  const clientClosed = once(client, 'close');
  client.end('bye from node');
  await clientClosed;
  const connections = await new Promise((resolve, reject) => {
    server2.getConnections((err, n) => (err ? reject(err) : resolve(n)));
  });
  await closeServer(server2);
  await peer.send({ step: 'node-socket-done', connections, closed: true });

  // 5. Handles interleaved with messages, sent without waiting: Node queues
  // everything after a handle until the peer's NODE_HANDLE_ACK.
  const a = await listen(net.createServer());
  const b = await listen(net.createServer());
  const c = await listen(net.createServer());
  const bAccepted = once(b, 'connection');
  const bClient = net.connect(b.address().port, '127.0.0.1');
  await once(bClient, 'connect');
  await Promise.all([
    peer.send({ seq: 0 }),
    peer.send({ seq: 1 }, a),
    peer.send({ seq: 2 }),
    peer.send({ seq: 3 }, bClient),
    peer.send({ seq: 4 }),
    peer.send(interleavedMsg(5), c),
    peer.send({ seq: 6 }),
  ]);
  const [bServerSide] = await bAccepted;
  bServerSide.destroy();
  await Promise.all([closeServer(a), closeServer(b), closeServer(c)]);

  // 6. The same from Go.
  for (let i = 0; i < 7; i++) {
    const { msg, handle } = await peer.next(`interleaved ${i}`);
    assert.deepStrictEqual(msg, interleavedMsg(i), `interleaved ${i}`);
    if (i === 1 || i === 5) {
      assert.ok(handle instanceof net.Server, `interleaved ${i}: handle is ${handle?.constructor?.name}`);
      await closeServer(handle);
    } else if (i === 3) {
      assert.ok(handle instanceof net.Socket, `interleaved ${i}: handle is ${handle?.constructor?.name}`);
      handle.destroy();
    } else {
      assert.equal(handle, undefined, `interleaved ${i}: unexpected handle`);
    }
  }
  await peer.finish({ done: 'handles' });
}

async function hygiene(peer) {
  // What Go's hygieneSends must arrive as; the refused ones never do.
  const fromGo = [
    { a: [1, 2], b: 'x' },
    42,
    'line1\nline2\r\n\n',
    'bad \ufffd\ufffd utf8',
    'raw \ufffd bad',
    { 'k\ny': '<tag>&amp;\u2028\u2029' },
    null,
    '',
    { B: 'AAEC' },
    12.5,
  ];
  for (let i = 0; i < fromGo.length; i++) {
    const { msg, handle } = await peer.next(`hygiene from go ${i}`);
    assert.equal(handle, undefined, `hygiene from go ${i}: unexpected handle`);
    assert.deepStrictEqual(msg, fromGo[i], `hygiene from go ${i}: got ${JSON.stringify(msg)}`);
  }
  const server = await peer.expect('spaced-out handle message', { x: 1 });
  assert.ok(server instanceof net.Server, `spaced-out handle message: handle is ${server?.constructor?.name}`);
  await closeServer(server);
  await peer.expect('hygiene-go done', { done: 'hygiene-go' });
  await peer.send({ done: 'hygiene-go', ok: true });

  // Node's own edge cases. Internal messages (cmd "NODE_" + more) are
  // never user messages, even with a handle.
  const internal = await listen(net.createServer());
  await Promise.all([
    peer.send('lone \ud800 surrogate'),
    peer.send('\udc00\ud800 reversed pair'),
    peer.send({ cmd: 'NODE_' }),
    peer.send({ buf: Buffer.from([1, 2, 255]) }),
    peer.send({ a: undefined, b: 1, d: new Date(0), m: new Map([[1, 2]]), n: NaN, inf: -Infinity }),
    peer.send(['\u2028\u2029 raw']),
    peer.send({ cmd: 'NODE_INTEROP_TEST' }),
    peer.send({ cmd: 'NODE_INTEROP_TEST', withHandle: true }, internal),
    peer.send({ after: 'internal messages' }),
  ]);
  await closeServer(internal);
  await peer.finish({ done: 'hygiene' });
}

// sockets is modelled on Node's test-child-process-fork-getconnections and
// test-child-process-fork-net-socket: a server hands every connection to the
// peer, then asks how many are left and closes; the peer's process must
// count the sockets it holds, as a Node child does.
const SHARED_SOCKETS = 12;
const KEEP_OPEN = 3;

async function sockets(peer) {
  const server = await listen(net.createServer());
  let nextID = 0;
  const sent = [];
  server.on('connection', (s) => {
    sent.push(peer.send({ cmd: 'new', id: nextID++ }, s));
  });
  const clients = [];
  const greetings = [];
  for (let i = 0; i < SHARED_SOCKETS; i++) {
    const c = net.connect(server.address().port, '127.0.0.1');
    clients.push(c);
    greetings.push(readAtLeast(c, 1, '\n'));
  }
  // Each socket is used by the peer: it writes the socket's id.
  const ids = (await Promise.all(greetings)).map((g) => Number(g)).sort((a, b) => a - b);
  assert.deepStrictEqual(ids, [...Array(SHARED_SOCKETS).keys()], 'ids written by the peer');
  await Promise.all(sent);
  assert.equal(await connections(server), SHARED_SOCKETS, 'getConnections with every socket held by the peer');

  // Close all but KEEP_OPEN, one at a time, counting after each.
  for (let i = 0; i < SHARED_SOCKETS - KEEP_OPEN; i++) {
    await peer.send({ cmd: 'close', id: i });
    await peer.expect(`closed ${i}`, { status: 'closed', id: i });
    assert.equal(await connections(server), SHARED_SOCKETS - i - 1, `getConnections after the peer closed ${i + 1}`);
  }

  // server.close() must wait until the peer has closed the rest.
  const log = [];
  const serverClosed = new Promise((resolve, reject) => server.close((err) => {
    log.push('server closed');
    if (err) reject(err); else resolve();
  }));
  for (let i = SHARED_SOCKETS - KEEP_OPEN; i < SHARED_SOCKETS; i++) {
    await peer.send({ cmd: 'close', id: i });
    await peer.expect(`closed ${i}`, { status: 'closed', id: i });
    log.push(`closed ${i}`);
  }
  await serverClosed;
  const lastButOne = log.indexOf(`closed ${SHARED_SOCKETS - 2}`);
  assert.ok(log.indexOf('server closed') > lastButOne,
    `server.close() called back while the peer still held sockets: ${log.join(', ')}`);
  for (const c of clients) c.destroy();
  await peer.finish({ done: 'sockets' });
}

// dgram is modelled on Node's test-child-process-fork-dgram: a UDP socket
// passed over the channel is used on the other side. From Go it must
// arrive as a dgram.Socket of the right type, as from Node's own send.
const UDP_TYPES = [['udp4', '127.0.0.1'], ['udp6', '::1']];

async function dgramScenario(peer) {
  // 1. Go sends bound UDP sockets; answer the first datagram on each.
  for (const [type] of UDP_TYPES) {
    const sock = await peer.expect(`go-${type}`, { step: `go-${type}` });
    assert.ok(sock instanceof dgram.Socket, `go-${type}: handle is ${sock?.constructor?.name}, want dgram.Socket`);
    assert.equal(sock.type, type, `go-${type}: socket type`);
    const [msg, rinfo] = await once(sock, 'message');
    await new Promise((resolve, reject) => {
      sock.send(`pong from node: ${msg}`, rinfo.port, rinfo.address, (err) => (err ? reject(err) : resolve()));
    });
    sock.close();
    await peer.send({ step: `go-${type}-done` });
  }

  // 2. Send dgram.Sockets, and then a raw UDP handle ("dgram.Native");
  // the peer answers a datagram on each.
  const kinds = [...UDP_TYPES.map(([type, host]) => ({ type, host, native: false })),
    { type: 'udp4', host: '127.0.0.1', native: true }];
  for (const { type, host, native } of kinds) {
    const step = `node-${type}${native ? '-native' : ''}`;
    const sock = dgram.createSocket(type);
    await new Promise((resolve) => sock.bind(0, host, resolve));
    const { port } = sock.address();
    await peer.send({ step, port }, native ? udpHandle(sock) : sock);
    sock.close(); // only the peer reads from it now
    const reply = await pingUntilAnswered(type, host, port, `ping from node ${step}`);
    assert.equal(reply, `pong from go: ping from node ${step}`, `${step}: reply`);
  }
  await peer.finish({ done: 'dgram' });
}

// udpHandle returns the native UDP handle of sock, which Node's send()
// passes as "dgram.Native".
function udpHandle(sock) {
  for (const sym of Object.getOwnPropertySymbols(sock)) {
    const state = sock[sym];
    if (state && typeof state === 'object' && state.handle) return state.handle;
  }
  throw new Error('no native handle on the dgram.Socket');
}

// pingUntilAnswered sends text to host:port every 200 ms until a datagram
// comes back, and resolves with it. UDP may drop datagrams.
function pingUntilAnswered(type, host, port, text) {
  return new Promise((resolve, reject) => {
    const client = dgram.createSocket(type);
    let timer = null;
    client.on('error', (err) => { clearInterval(timer); client.close(); reject(err); });
    client.once('message', (msg) => { clearInterval(timer); client.close(); resolve(String(msg)); });
    client.bind(0, host, () => {
      const ping = () => client.send(text, port, host);
      ping();
      timer = setInterval(ping, 200);
    });
  });
}

function connections(server) {
  return new Promise((resolve, reject) => {
    server.getConnections((err, n) => (err ? reject(err) : resolve(n)));
  });
}

// interleavedMsg is message i of the interleaved steps, as in
// scenario_handles_test.go: message 5 carries a large string with its handle.
function interleavedMsg(i) {
  return i === 5 ? { seq: i, pad: 'p'.repeat(300000) } : { seq: i };
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function closeServer(server) {
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

// readAtLeast resolves with the text read from socket once it has n
// characters (and, if given, ends with end).
function readAtLeast(socket, n, end = '') {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.setEncoding('utf8');
    const onData = (d) => {
      got += d;
      if (got.length >= n && got.endsWith(end)) {
        socket.off('data', onData);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.once('end', () => reject(new Error(`socket ended after ${JSON.stringify(got)}`)));
  });
}

// connectAndRead resolves with everything the server at port sends.
function connectAndRead(port) {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('utf8');
    s.on('data', (d) => { got += d; });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}

module.exports = { values, order, bytes, handles, hygiene, sockets, dgram: dgramScenario };
