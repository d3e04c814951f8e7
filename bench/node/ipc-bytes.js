'use strict';
// Throughput of large binary payloads: send n payloads of <size> bytes to a
// forked child; the span ends when the child reports it has received all n.
// With 'advanced' the payload is a Uint8Array (sent as V8 serializes it);
// with 'json' it is a Buffer (sent as {"type":"Buffer","data":[...]}).
// usage: node ipc-bytes.js <json|advanced> <warmup> <n> <size>
// prints {"unit":"MiB/s","samples":[rate]}
const { fork } = require('node:child_process');
const path = require('node:path');

const serialization = process.argv[2] || 'advanced';
const warm = Number(process.argv[3] || 16);
const n = Number(process.argv[4] || 256);
const size = Number(process.argv[5] || 65536);
const payload = serialization === 'advanced' ? new Uint8Array(size).fill(7) : Buffer.alloc(size, 7);
const cp = fork(path.join(__dirname, 'ipc-sink-child.js'), ['bytes', String(warm), String(n), String(size)], { serialization });
cp.on('error', (e) => { console.error(e); process.exit(1); });
cp.on('exit', (code) => { if (code) { console.error(`sink exited (${code})`); process.exit(1); } });

let phase = 0;
let t0 = 0n;
cp.on('message', () => {
  if (phase === 0) {
    phase = 1;
    t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) cp.send(payload);
    return;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  cp.disconnect();
  console.log(JSON.stringify({ unit: 'MiB/s', samples: [(n * size) / (1 << 20) / secs] }));
});
for (let i = 0; i < warm; i++) cp.send(payload);
