'use strict';
// exec('true') or spawn('true') latency: from the call to exec's callback
// or to spawn's 'close' event (the child exited and its stdio closed).
// usage: node child-exec.js <exec|spawn> <samples>
// prints {"unit":"ms","samples":[...]} (two warm-up runs are not reported)
//
// Why this is the fast way to do it in Node: exec() and spawn() are the
// calls a Node program uses for this, with no options that add work (no
// shell for spawn, default stdio pipes), and two warm-up calls run first so
// the JIT and libuv's process machinery are warm.
const { exec, spawn } = require('node:child_process');

const kind = process.argv[2] || 'exec';
const k = Number(process.argv[3] || 10);

function once() {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
    if (kind === 'exec') {
      exec('true', (err) => (err ? reject(err) : resolve(ms())));
      return;
    }
    const cp = spawn('true');
    cp.on('error', reject);
    cp.on('close', (code) => (code === 0 ? resolve(ms()) : reject(new Error(`true exited ${code}`))));
  });
}

(async () => {
  await once();
  await once();
  const samples = [];
  for (let i = 0; i < k; i++) samples.push(await once());
  console.log(JSON.stringify({ unit: 'ms', samples }));
})().catch((e) => { console.error(e); process.exit(1); });
