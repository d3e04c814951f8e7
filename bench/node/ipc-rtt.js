'use strict';
// IPC round trip: send {i: n} to a forked echo child and wait for it to come
// back, one at a time; every round trip after the warm-up is timed.
//
// Why this is the fast way to do it in Node: one message is in flight at a
// time, so send() never queues and backpressure cannot arise; the child
// answers from inside its 'message' handler with the object it got, and
// the warm-up round trips let V8 optimise both handlers before timing
// starts. Run it with both serializations (json and advanced); the Go side
// compares herd with whichever has the lower median in the same run.
// usage: node ipc-rtt.js <warmup> <n> [json|advanced]
// prints {"unit":"us","samples":[...]} (n samples)
const { fork } = require('node:child_process');
const path = require('node:path');

const warm = Number(process.argv[2] || 1000);
const n = Number(process.argv[3] || 10000);
const serialization = process.argv[4] || 'json';
const cp = fork(path.join(__dirname, 'ipc-echo-child.js'), [], { serialization });
const samples = new Array(n);
let i = 0;
let t0 = 0n;

function next() {
  t0 = process.hrtime.bigint();
  cp.send({ i });
}

cp.on('message', (m) => {
  const dt = Number(process.hrtime.bigint() - t0) / 1e3;
  if (m.i !== i) throw new Error(`echo ${JSON.stringify(m)} for ${i}`);
  if (i >= warm) samples[i - warm] = dt;
  i++;
  if (i < warm + n) return next();
  cp.disconnect();
  console.log(JSON.stringify({ unit: 'us', samples }));
});
cp.on('error', (e) => { console.error(e); process.exit(1); });
cp.on('exit', (code) => { if (i < warm + n) { console.error(`echo child exited (${code})`); process.exit(1); } });
next();
