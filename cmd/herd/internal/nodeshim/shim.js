// herd's preload shim for unmodified Node apps (node --require <this file>).
//
// herd opens each port once and passes it to every instance as an inherited
// descriptor (fd 3, 4, ... named in LISTEN_FDNAMES as "port-<n>"). This shim
// makes net.Server.prototype.listen(port), listen({port}) and
// listen(port, host, cb) listen on that descriptor instead of binding the
// port again, tells herd over the IPC channel when it did ("listening", and
// "ready" when HERD_READY=listen), and on SIGTERM closes the servers it
// adopted so that requests in flight finish before the process exits. A node
// started below herd's instance (npm start, a script, a cluster worker) that
// inherited the descriptors adopts them too, without talking to herd.
'use strict';
const fs = require('fs');
const net = require('net');

const names = (process.env.LISTEN_FDNAMES || '').split(':');
// The process herd started owns the sockets (systemd's rule). A node that
// a wrapper herd started runs (npm start, a shell script), or that the app
// itself forks (Node's cluster workers), may use them too when it has
// inherited them: LISTEN_PID is then one of its ancestors.
const direct = process.env.LISTEN_PID === String(process.pid);

function isAncestor(pid) {
  try {
    let p = process.ppid;
    for (let i = 0; i < 32 && p > 1; i++) {
      if (String(p) === pid) return true;
      const stat = fs.readFileSync('/proc/' + p + '/stat', 'utf8');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    }
  } catch (_) { /* no /proc, or the chain ended */ }
  return false;
}

function isSocket(fd) {
  try { return fs.fstatSync(fd).isSocket(); } catch (_) { return false; }
}

const owner = direct || (!!process.env.LISTEN_PID && isAncestor(process.env.LISTEN_PID));
const nfds = owner ? (parseInt(process.env.LISTEN_FDS || '0', 10) || 0) : 0;
const byPort = new Map();
for (let i = 0; i < nfds && i < names.length; i++) {
  const m = /^port-(\d+)$/.exec(names[i]);
  if (m && (direct || isSocket(3 + i))) byPort.set(Number(m[1]), 3 + i);
}
const envPort = Number(process.env.PORT || 0);
const adopted = [];
let readySent = false;

// Only herd's own child talks to herd: another node's channel, if any, leads
// to its own parent (npm, a cluster primary).
function send(msg) {
  if (direct && typeof process.send === 'function' && process.connected) {
    try { process.send(msg); } catch (_) { /* primary gone */ }
  }
}

function portOf(args) {
  const a = args[0];
  if (typeof a === 'number') return a;
  if (typeof a === 'string' && /^\d+$/.test(a)) return Number(a);
  if (a && typeof a === 'object' && !Array.isArray(a) && a.fd === undefined && a.path === undefined &&
      a.handle === undefined && a._handle === undefined) {
    if (a.port === undefined || a.port === null) return 0;
    return Number(a.port);
  }
  return -1;
}

const origListen = net.Server.prototype.listen;
net.Server.prototype.listen = function herdListen(...args) {
  let port = portOf(args);
  // listen() or listen(0) with PORT set: the app asks for "a port"; give it
  // the port herd shares only if it is the only one.
  if (port === 0 && byPort.size === 1 && envPort && byPort.has(envPort)) port = envPort;
  const fd = byPort.get(port);
  if (fd === undefined) return origListen.apply(this, args);
  let cb = args.find((x) => typeof x === 'function');
  const opts = { fd };
  if (args[0] && typeof args[0] === 'object' && args[0].backlog) opts.backlog = args[0].backlog;
  adopted.push(this);
  this.once('listening', () => {
    send({ herd: 'listening', port, fd });
    if (process.env.HERD_READY === 'listen' && !readySent) {
      readySent = true;
      send({ herd: 'ready' });
    }
  });
  return cb ? origListen.call(this, opts, cb) : origListen.call(this, opts);
};

// Graceful stop: only when the app has no SIGTERM handler of its own.
// The servers stop accepting (the shared socket stays open in herd, so
// queued connections go to other instances); every response from now on
// says "Connection: close", so a keep-alive client finishes its request and
// opens its next connection elsewhere instead of racing a close. Idle
// keep-alive connections end when their client sends again or after the
// server's keepAliveTimeout; the process exits once every connection is
// gone (herd's kill timeout bounds it).
process.on('SIGTERM', function herdStop() {
  if (process.listenerCount('SIGTERM') > 1) return;
  let open = adopted.length;
  if (open === 0) process.exit(0);
  const done = () => { if (--open === 0) process.exit(0); };
  for (const s of adopted) {
    s.prependListener('request', (req, res) => { res.shouldKeepAlive = false; });
    // net.Server's close, not http.Server's, which would also drop idle
    // keep-alive connections that a client may be reusing right now.
    net.Server.prototype.close.call(s, done);
  }
});
