'use strict';
// Child of ipc-msgs.js and ipc-bytes.js: counts messages and answers 'done'
// after the warm-up batch and again after the measured batch.
// argv: <msgs|bytes> <warmup> <n> [payload size for bytes]
const [kind, warmS, nS, sizeS] = process.argv.slice(2);
const warm = Number(warmS);
const n = Number(nS);
const size = Number(sizeS || 0);
let got = 0;

function payloadSize(m) {
  if (m instanceof Uint8Array) return m.byteLength; // advanced serialization
  if (m && m.type === 'Buffer' && Array.isArray(m.data)) return m.data.length; // json
  return -1;
}

process.on('message', (m) => {
  if (kind === 'bytes' && payloadSize(m) !== size) {
    console.error(`sink: payload of ${payloadSize(m)} bytes, want ${size}`);
    process.exit(1);
  }
  if (kind === 'msgs' && typeof m.i !== 'number') {
    console.error(`sink: unexpected message ${JSON.stringify(m)}`);
    process.exit(1);
  }
  got++;
  if (got === warm || got === warm + n) process.send('done');
});
