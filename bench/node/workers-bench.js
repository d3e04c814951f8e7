// Node side of herd's workers benchmarks (bench/workersbench). It stays up
// between rounds, so that the Go harness can alternate Node rounds with Go
// ones while every contender stays warm. One JSON request per stdin line,
// one JSON reply per stdout line; {"ready":true} once the Piscina pool is up.
//
//   {"kind":"noop","n":100000,"inflight":64}     -> {"seconds":1.2}
//   {"kind":"spin","n":400,"us":1000,"inflight":8} -> {"seconds":0.21}
//   {"kind":"startup","n":10}                     -> {"ms":[...]}  new Worker -> 'online'
//   {"kind":"atomics","n":2000}                   -> {"us":[...]}  Atomics.notify/wait round trips
'use strict';
const path = require('path');
const readline = require('readline');
const { Worker } = require('worker_threads');
const { Piscina } = require('piscina');

const pool = new Piscina({
  filename: path.join(__dirname, 'workers-task.js'),
  minThreads: 2,
  maxThreads: 2,
  idleTimeout: 600000,
});

async function throughput(name, n, inflight, arg) {
  let next = 0;
  async function lane() {
    while (next < n) {
      next++;
      await pool.run(arg, { name });
    }
  }
  const t0 = process.hrtime.bigint();
  const lanes = [];
  for (let i = 0; i < inflight; i++) lanes.push(lane());
  await Promise.all(lanes);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function startup(n) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    const w = new Worker('require("worker_threads").parentPort.on("message", () => {});', { eval: true });
    await new Promise((resolve, reject) => { w.once('online', resolve); w.once('error', reject); });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await w.terminate();
  }
  return ms;
}

// atomics plays ping-pong with a worker thread on two Int32 slots.
async function atomics(n) {
  const sab = new SharedArrayBuffer(16);
  const a = new Int32Array(sab);
  const code = `
    const { workerData } = require('worker_threads');
    const a = new Int32Array(workerData.sab);
    for (let i = 1; i <= workerData.n; i++) {
      while (Atomics.load(a, 0) < i) Atomics.wait(a, 0, i - 1);
      Atomics.store(a, 1, i);
      Atomics.notify(a, 1, 1);
    }`;
  const w = new Worker(code, { eval: true, workerData: { sab, n } });
  await new Promise((resolve) => w.once('online', resolve));
  const us = [];
  for (let i = 1; i <= n; i++) {
    const t0 = process.hrtime.bigint();
    Atomics.store(a, 0, i);
    Atomics.notify(a, 0, 1);
    while (Atomics.load(a, 1) < i) Atomics.wait(a, 1, i - 1);
    us.push(Number(process.hrtime.bigint() - t0) / 1e3);
  }
  await w.terminate();
  return us;
}

(async () => {
  await throughput('noop', 2000, 64, null); // start both threads, JIT the paths
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const req = JSON.parse(line);
    let reply;
    switch (req.kind) {
      case 'noop': reply = { seconds: await throughput('noop', req.n, req.inflight, null) }; break;
      case 'spin': reply = { seconds: await throughput('spin', req.n, req.inflight, req.us) }; break;
      case 'startup': reply = { ms: await startup(req.n) }; break;
      case 'atomics': reply = { us: await atomics(req.n) }; break;
      default: reply = { error: 'unknown kind ' + req.kind };
    }
    process.stdout.write(JSON.stringify(reply) + '\n');
  }
  await pool.destroy();
})();
