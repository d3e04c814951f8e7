'use strict';
// stdout streaming: spawn a producer writing <bytes> bytes of zeros and read
// its stdout to the end; the span runs from spawn() to 'close'.
// usage: node child-stream.js <bytes> <program> [args...]
// prints {"unit":"MiB/s","samples":[rate]}
//
// Why this is the fast way to do it in Node: the 'data' handler only adds
// up chunk lengths (no copying, no string decoding), and stderr is
// inherited rather than piped, so the only stream Node reads is stdout.
const { spawn } = require('node:child_process');

const bytes = Number(process.argv[2]);
const [prog, ...args] = process.argv.slice(3);
let got = 0;
const t0 = process.hrtime.bigint();
const cp = spawn(prog, args, { stdio: ['ignore', 'pipe', 'inherit'] });
cp.stdout.on('data', (b) => { got += b.length; });
cp.on('error', (e) => { console.error(e); process.exit(1); });
cp.on('close', (code) => {
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (code !== 0 || got !== bytes) {
    console.error(`producer exited ${code} after ${got} of ${bytes} bytes`);
    process.exit(1);
  }
  console.log(JSON.stringify({ unit: 'MiB/s', samples: [bytes / (1 << 20) / secs] }));
});
