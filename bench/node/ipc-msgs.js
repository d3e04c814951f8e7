'use strict';
// One-way throughput of small messages: send n messages {i: k} to a forked
// child; the span ends when the child reports it has received all n. A
// warm-up batch of the same messages, over the same path, goes first.
//
// Why this is the fast way to do it in Node: the sender respects
// backpressure (ipc-pump.js: it stops when send() returns false and goes on
// from that send's callback), so Node writes each message as it is sent
// instead of piling serialized copies and write requests up in user space;
// the child does nothing but count. Run it with both serializations: json is
// usually the faster one for small objects, and the Go side compares herd
// with whichever is faster in the same run.
// usage: node ipc-msgs.js <json|advanced> <warmup> <n>
// prints {"unit":"msg/s","samples":[rate]}
const { fork } = require('node:child_process');
const path = require('node:path');
const { pump } = require('./ipc-pump.js');

const serialization = process.argv[2] || 'json';
const warm = Number(process.argv[3] || 10000);
const n = Number(process.argv[4] || 100000);
const cp = fork(path.join(__dirname, 'ipc-sink-child.js'), ['msgs', String(warm), String(n)], { serialization });
cp.on('error', (e) => { console.error(e); process.exit(1); });
cp.on('exit', (code) => { if (code) { console.error(`sink exited (${code})`); process.exit(1); } });

const make = (i) => ({ i });
let phase = 0;
let t0 = 0n;
cp.on('message', () => {
  if (phase === 0) {
    phase = 1;
    t0 = process.hrtime.bigint();
    pump(cp, n, make, () => {});
    return;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  cp.disconnect();
  console.log(JSON.stringify({ unit: 'msg/s', samples: [n / secs] }));
});
pump(cp, warm, make, () => {});
