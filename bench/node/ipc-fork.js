'use strict';
// Fork to first message: the time from calling fork() to the parent's
// 'message' event for the child's first message.
// usage: node ipc-fork.js <samples>
// prints {"unit":"ms","samples":[...]} (one warm-up fork is not reported)
//
// Why this is the fast way to do it in Node: fork() of a child that sends
// one message at the top of its script is the shortest path to a first
// message, and one untimed fork warms the file cache and the JIT first.
const { fork } = require('node:child_process');
const path = require('node:path');

const k = Number(process.argv[2] || 5);
const script = path.join(__dirname, 'ipc-hello-child.js');

function once() {
  return new Promise((resolve, reject) => {
    let dt = -1;
    const t0 = process.hrtime.bigint();
    const cp = fork(script);
    cp.once('message', () => {
      dt = Number(process.hrtime.bigint() - t0) / 1e6;
      cp.disconnect();
    });
    cp.once('error', reject);
    cp.once('exit', () => (dt < 0 ? reject(new Error('child exited before its first message')) : resolve(dt)));
  });
}

(async () => {
  await once();
  const samples = [];
  for (let i = 0; i < k; i++) samples.push(await once());
  console.log(JSON.stringify({ unit: 'ms', samples }));
})().catch((e) => { console.error(e); process.exit(1); });
