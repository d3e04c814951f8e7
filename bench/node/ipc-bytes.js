'use strict';
// Throughput of large binary payloads: send n payloads of <size> bytes to a
// forked child; the span ends when the child reports it has received all n.
// A warm-up batch of the same payloads, over the same path, goes first.
// With 'advanced' the payload is a Uint8Array (V8 serializes it as raw
// bytes); with 'json' it is a Buffer (sent as {"type":"Buffer","data":[...]}).
//
// Why this is the fast way to do it in Node: 'advanced' with a Uint8Array is
// the only way child.send() carries bytes without turning each one into
// decimal text, and the sender respects backpressure (ipc-pump.js: it stops
// when send() returns false and goes on from that send's callback), so at
// most about 128 KiB waits in Node's write queue instead of every payload's
// serialized copy. The child does nothing but check the size and count.
// usage: node ipc-bytes.js <json|advanced> <warmup> <n> <size>
// prints {"unit":"MiB/s","samples":[rate]}
const { fork } = require('node:child_process');
const path = require('node:path');
const { pump } = require('./ipc-pump.js');

const serialization = process.argv[2] || 'advanced';
const warm = Number(process.argv[3] || 16);
const n = Number(process.argv[4] || 256);
const size = Number(process.argv[5] || 65536);
const payload = serialization === 'advanced' ? new Uint8Array(size).fill(7) : Buffer.alloc(size, 7);
const cp = fork(path.join(__dirname, 'ipc-sink-child.js'), ['bytes', String(warm), String(n), String(size)], { serialization });
cp.on('error', (e) => { console.error(e); process.exit(1); });
cp.on('exit', (code) => { if (code) { console.error(`sink exited (${code})`); process.exit(1); } });

const make = () => payload;
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
  console.log(JSON.stringify({ unit: 'MiB/s', samples: [(n * size) / (1 << 20) / secs] }));
});
pump(cp, warm, make, () => {});
