'use strict';
// One-way throughput of small messages: send n messages {i: k} to a forked
// child as fast as send() takes them; the span ends when the child reports
// it has received all n. A warm-up batch goes first.
// usage: node ipc-msgs.js <json|advanced> <warmup> <n>
// prints {"unit":"msg/s","samples":[rate]}
const { fork } = require('node:child_process');
const path = require('node:path');

const serialization = process.argv[2] || 'json';
const warm = Number(process.argv[3] || 10000);
const n = Number(process.argv[4] || 100000);
const cp = fork(path.join(__dirname, 'ipc-sink-child.js'), ['msgs', String(warm), String(n)], { serialization });
cp.on('error', (e) => { console.error(e); process.exit(1); });
cp.on('exit', (code) => { if (code) { console.error(`sink exited (${code})`); process.exit(1); } });

let phase = 0;
let t0 = 0n;
cp.on('message', () => {
  if (phase === 0) {
    phase = 1;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) cp.send({ i });
    return;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  cp.disconnect();
  console.log(JSON.stringify({ unit: 'msg/s', samples: [n / secs] }));
});
for (let i = 0; i < warm; i++) cp.send({ i });
