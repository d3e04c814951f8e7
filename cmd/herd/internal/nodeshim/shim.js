// herd's preload shim for unmodified Node apps (node --require <this file>,
// or NODE_OPTIONS=--require=<this file> for a node that npm, yarn or a script
// starts).
//
// listen: a TCP listen(port[, host]) asks herd for a listening socket bound
// to exactly that host and port, and listens on the socket herd sends back.
// herd opens each (host, port) once and gives the same socket to every
// instance, so instances share the port as Node's cluster workers do, and
// the address bound is the one the app asked for (or a narrower one herd
// was told to use; never a wider one). The request goes to herd's unix
// socket (HERD_LISTEN_SOCKET) through a small relay, herd's own binary
// (HERD_LISTEN_RELAY), that this process starts with a Node IPC channel:
// Node can only receive a socket over such a channel, and the final node of
// `npm start` has none to herd. In a node:cluster worker listen is left to
// Node, which asks its primary, whose listen comes here.
//
// readiness: the first node of an instance that has herd's IPC channel tells
// herd when its server listens ({"herd":"listening"}, and {"herd":"ready"}
// when HERD_READY=listen).
//
// stop: on SIGTERM (or the signal in HERD_STOP_SIGNAL, such as a PM2 app's
// SIGINT), unless the app handles it itself, the servers stop
// accepting and answer with "Connection: close" until their connections are
// gone; then the process exits. In a node:cluster app the primary stops
// accepting first, tells its workers to stop once each connection it
// accepted is in a worker's hands, and exits after them. Duplicate SIGTERMs
// (a supervisor that signals the process and its group) change nothing.
'use strict';
const net = require('net');

const RELAY_ARG = '__herd-listen-relay';
const sock = process.env.HERD_LISTEN_SOCKET || '';
const relay = process.env.HERD_LISTEN_RELAY || '';
// A node:cluster worker asks its primary. (Node has read and removed
// NODE_UNIQUE_ID before preloads run, and set up its cluster module.)
const isWorker = require('cluster').isWorker;
// The first node of the instance marks itself; its descendants are not it.
const first = !process.env.HERD_SHIM_FIRST;
if (first) process.env.HERD_SHIM_FIRST = String(process.pid);
const servers = [];
const kHandle = Symbol('herdHandle'); // the socket herd sent for a server
let readySent = false;

// Only the first node talks to herd over its channel: another node's
// channel, if any, leads to its own parent (a cluster primary, the app).
function send(msg) {
  if (first && !isWorker && typeof process.send === 'function' && process.connected) {
    try { process.send(msg); } catch (_) { /* herd gone */ }
  }
}

// request returns {host, port, backlog, cb} for a TCP listen, or null for a
// listen on a path, a descriptor or a handle, which is left to Node.
function request(args) {
  const a = args[0];
  const cb = args.find((x) => typeof x === 'function');
  if (typeof a === 'number' || (typeof a === 'string' && /^\d+$/.test(a)) || a === undefined || a === null || typeof a === 'function') {
    const host = typeof args[1] === 'string' ? args[1] : '';
    const backlog = typeof args[1] === 'number' ? args[1] : (typeof args[2] === 'number' ? args[2] : undefined);
    return { host, port: typeof a === 'function' || a == null ? 0 : Number(a), backlog, cb };
  }
  if (a && typeof a === 'object' && !Array.isArray(a) && a.fd === undefined && a.path === undefined &&
      a.handle === undefined && a._handle === undefined && typeof a.getsockname !== 'function') {
    return { host: typeof a.host === 'string' ? a.host : '', port: a.port == null ? 0 : Number(a.port), backlog: a.backlog, cb };
  }
  return null;
}

// ask gets a listening socket for (host, port) from herd, through the relay.
function ask(host, port, cb) {
  let c;
  try {
    c = require('child_process').spawn(relay, [RELAY_ARG, host, String(port)],
      { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: process.env });
  } catch (e) {
    process.nextTick(cb, e);
    return;
  }
  let done = false;
  const finish = (err, h) => {
    if (done) return;
    done = true;
    try { c.disconnect(); } catch (_) { /* gone */ }
    cb(err, h);
  };
  c.on('message', (m, h) => {
    if (m && m.herd === 'listen-ok' && h) return finish(null, h);
    const err = new Error((m && m.msg) || 'herd sent no socket for ' + host + ':' + port);
    err.code = (m && m.code) || 'EHERDLISTEN';
    err.address = host;
    err.port = port;
    finish(err);
  });
  c.on('error', (e) => finish(e));
  c.on('exit', (code, sig) => finish(new Error('herd: the listen relay ' + relay + ' exited (' + (sig || code) + ') before it answered')));
}

const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function herdListen(...args) {
  const req = isWorker || !sock || !relay ? null : request(args);
  if (!req || !Number.isInteger(req.port) || req.port < 0 || req.port > 65535) {
    if (isWorker) servers.push(this);
    return origListen.apply(this, args);
  }
  const server = this;
  if (req.cb) server.once('listening', req.cb);
  servers.push(server);
  const listening = () => {
    send({ herd: 'listening', port: req.port, host: req.host });
    if (process.env.HERD_READY === 'listen' && !readySent) {
      readySent = true;
      send({ herd: 'ready' });
    }
  };
  const fd = inherited(req.host, req.port);
  if (fd >= 0) {
    // The socket herd would send is already here: no relay to start.
    server.once('listening', listening);
    origListen.call(server, req.backlog !== undefined ? { fd, backlog: req.backlog } : { fd });
    if (server._handle) {
      server[kHandle] = server._handle;
      countAccepts(server._handle);
    }
    return server;
  }
  ask(req.host, req.port, (err, handle) => {
    if (err) {
      server.emit('error', err);
      return;
    }
    server.once('listening', listening);
    server[kHandle] = handle;
    countAccepts(handle);
    if (req.backlog !== undefined) origListen.call(server, handle, req.backlog);
    else origListen.call(server, handle);
  });
  return server;
};

// inherited returns the descriptor of the socket herd opened for port before
// this process started (LISTEN_FDS, named port-N, for this very process),
// when a listen on every interface asks for it: exactly the socket herd's
// broker would send (it answers such a request with the port it opened),
// so the relay is not needed. Each descriptor serves one listen; a request
// with a host, a second listen on the port, or another process asks herd.
const usedFDs = new Set();
function inherited(host, port) {
  const env = process.env;
  if (env.LISTEN_PID !== String(process.pid) || !wildcardHost(host)) return -1;
  const names = (env.LISTEN_FDNAMES || '').split(':');
  const i = names.indexOf('port-' + port);
  const fd = 3 + i;
  if (i < 0 || i >= Number(env.LISTEN_FDS) || usedFDs.has(fd)) return -1;
  usedFDs.add(fd);
  return fd;
}

function wildcardHost(h) {
  return h === '' || h === '0.0.0.0' || h === '::' || h === '0:0:0:0:0:0:0:0';
}

// Graceful stop: only when the app has no SIGTERM handler of its own.
// The servers stop accepting (the shared socket stays open in herd, so
// queued connections go to other instances); every response from now on
// says "Connection: close", so a keep-alive client finishes its request and
// opens its next connection elsewhere instead of racing a close. Idle
// keep-alive connections end when their client sends again or after the
// server's keepAliveTimeout; the process exits once every connection is
// gone (herd's kill timeout bounds it).
//
// node:cluster: the primary accepts and hands each connection to a worker
// over its channel, so a worker must not stop accepting before the primary
// has: a connection on its way would be refused. A worker's SIGTERM (herd
// signals the whole instance) is passed to the primary as an internal
// message; the primary, once it has stopped accepting, tells each worker to
// stop with a message that follows any connection it sent before; the
// primary leaves once they have all exited.
const cluster = require('cluster');
let stopping = false;

function stop(exit) {
  if (stopping) return;
  stopping = true;
  let open = 1;
  const done = () => { if (--open === 0) exit(); };
  for (const s of servers) {
    open++;
    s.prependListener('request', (req, res) => { res.shouldKeepAlive = false; });
    // Node's round-robin primary has taken the server's handle: close
    // that, so that it accepts no more.
    if (s[kHandle] && s._handle !== s[kHandle]) s[kHandle].close();
    // net.Server's close, not http.Server's, which would also drop idle
    // keep-alive connections that a client may be reusing right now.
    net.Server.prototype.close.call(s, () => done());
  }
  const live = isWorker ? [] : Object.values(cluster.workers || {}).filter((w) => !w.isDead());
  if (live.length > 0) {
    open += live.length;
    for (const w of live) w.process.once('exit', () => done());
    // Only once every connection accepted has been taken by a worker: one
    // still queued in the primary would be reset when the last worker
    // leaves. (Bounded, in case a count is off.)
    whenHandedOff(() => { for (const w of live) tellStop(w); });
  }
  done();
}

// The round-robin primary's bookkeeping, seen from outside: connections
// its handles accepted, and those a worker acknowledged taking.
let accepted = 0;
let taken = 0;
let handedOff = null;

function countAccepts(handle) {
  let inner = handle.onconnection; // set already when listen has run
  function counted(err, h) {
    if (!err && h) accepted++;
    return inner.apply(this, arguments);
  }
  Object.defineProperty(handle, 'onconnection', {
    configurable: true,
    get() { return inner && counted; },
    set(f) { inner = f; },
  });
}

function whenHandedOff(f) {
  const t = setTimeout(() => { handedOff = null; f(); }, 2000);
  handedOff = () => {
    if (taken < accepted) return;
    clearTimeout(t);
    handedOff = null;
    f();
  };
  handedOff();
}

function tellStop(w) {
  try { w.process.send({ cmd: 'NODE_HERD_STOP' }); } catch (_) { /* gone */ }
}

if (isWorker) {
  process.on('internalMessage', (m) => {
    if (m && m.cmd === 'NODE_HERD_STOP') stop(() => process.exit(0));
  });
} else {
  cluster.on('fork', (w) => {
    w.process.on('internalMessage', (m) => {
      if (!m) return;
      if (m.cmd === 'NODE_CLUSTER' && m.ack !== undefined && m.accepted === true) {
        taken++;
        if (handedOff) handedOff();
      } else if (m.cmd === 'NODE_HERD_TERM' && !stopping) {
        // herd signals the whole instance at once, so this primary's own
        // signal is already pending: let its stop take the worker in turn.
        // Stopping the worker now could leave the round-robin handle with
        // no worker while it still holds accepted connections, which Node
        // then resets. A worker signalled alone stops after the wait.
        setTimeout(() => { if (!stopping) tellStop(w); }, 1000);
      }
    });
  });
}

// The signal herd stops the instance with: SIGTERM, or the app's
// kill_signal (SIGINT for a PM2 ecosystem file).
const stopSignal = /^SIG[A-Z0-9]+$/.test(process.env.HERD_STOP_SIGNAL || '') ? process.env.HERD_STOP_SIGNAL : 'SIGTERM';
function herdStop() {
  if (process.listenerCount(stopSignal) > 1) return;
  if (isWorker && process.connected) {
    try {
      process.send({ cmd: 'NODE_HERD_TERM' });
      return;
    } catch (_) { /* the primary is gone: stop alone */ }
  }
  stop(() => process.exit(0));
}
try {
  process.on(stopSignal, herdStop);
} catch (_) { /* a signal Node cannot catch (SIGKILL): nothing to drain on */ }
