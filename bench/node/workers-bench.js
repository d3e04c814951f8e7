// Node side of herd's workers benchmarks (bench/workersbench). It stays up
// between rounds, so that the Go harness can alternate Node rounds with Go
// ones while every contender stays warm. One JSON request per stdin line,
// one JSON reply per stdout line; {"ready":true,"noop":"...","spin":"..."}
// once the Piscina pools are up and the best one for each kind is chosen.
//
// Why this is Piscina at its best: before the first request it builds one
// 2-thread pool for each concurrentTasksPerWorker in {1, 4, 16} and each
// atomics setting ('sync', the default, 'async' and 'disabled'), warms
// every pool up, times each on a short run of the no-op and the 1 ms tasks
// (two tries, the faster counts), and then answers each kind of request
// with the pool that was fastest for that kind. The chosen settings are
// reported so the table can quote them. Tasks are plain synchronous
// functions in workers-task.js, the fast shape for Piscina.
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

const variants = [];
for (const concurrentTasksPerWorker of [1, 4, 16]) {
  for (const atomics of ['sync', 'async', 'disabled']) {
    variants.push({
      label: `concurrentTasksPerWorker=${concurrentTasksPerWorker} atomics=${atomics}`,
      pool: new Piscina({
        filename: path.join(__dirname, 'workers-task.js'),
        minThreads: 2,
        maxThreads: 2,
        idleTimeout: 600000,
        concurrentTasksPerWorker,
        atomics,
      }),
    });
  }
}
const chosen = {}; // kind -> variant

async function throughput(name, n, inflight, arg, pool = chosen[name].pool) {
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
  // Warm every pool up (start both threads, JIT the paths), then pick the
  // fastest pool per kind of task.
  for (const v of variants) {
    await throughput('noop', 2000, 64, null, v.pool);
    await throughput('spin', 8, 8, 1000, v.pool);
  }
  for (const [kind, n, inflight, arg] of [['noop', 2000, 64, null], ['spin', 40, 8, 1000]]) {
    let best = Infinity;
    for (const v of variants) {
      for (let k = 0; k < 2; k++) {
        const s = await throughput(kind, n, inflight, arg, v.pool);
        if (s < best) { best = s; chosen[kind] = v; }
      }
    }
  }
  await Promise.all(variants.filter((v) => v !== chosen.noop && v !== chosen.spin).map((v) => v.pool.destroy()));
  process.stdout.write(JSON.stringify({ ready: true, noop: chosen.noop.label, spin: chosen.spin.label }) + '\n');
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
  await Promise.all([...new Set([chosen.noop.pool, chosen.spin.pool])].map((p) => p.destroy()));
})();
