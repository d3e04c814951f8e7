// BullMQ side of herd's jobs benchmarks (bench/jobsbench). The Go harness
// starts redis-server (appendonly yes, appendfsync everysec) and this script
// with REDIS_PORT set; the script stays up between rounds so that BullMQ
// rounds alternate with the others while the Queue and its connection stay
// warm. One JSON request per stdin line, one JSON reply per stdout line;
// {"ready":true} once the Queue is connected, {"error":"..."} on failure.
// Every operation works on the queue "bench" and empties Redis afterwards,
// except "fill", whose jobs the next request, "drain", works.
//
//   {"op":"one","n":2000}                         -> {"seconds":s}  queue.add, one at a time
//   {"op":"bulk","n":20000,"batch":1000}          -> {"seconds":s}  queue.addBulk, batch by batch
//   {"op":"fill","n":50000,"batch":1000}          -> {"seconds":s}  queue.addBulk, batch by batch, kept for "drain"
//   {"op":"drain","n":50000,"concurrency":64}     -> {"seconds":s}  a Worker until n jobs completed
//   {"op":"latency","n":1000,"warm":100}          -> {"ms":[...]}   add -> job.waitUntilFinished(QueueEvents)
//
// With REDIS_WAIT=1 the Redis has a replica (redis-server --replicaof), and
// every write the caller is told about waits until the replica has it, with
// Redis's WAIT 1 (Redis replicates asynchronously, so a write the primary
// acknowledged can be lost with it): "one" and "bulk" send WAIT on the
// Queue's own connection (queue.getBackend().client, BullMQ's escape hatch to
// its Redis client) after each add / addBulk, which covers that
// connection's writes; "drain" stops its clock once a write on another
// connection after the n-th completion is on the replica (replication is in
// order, so every completion is too); "latency" does the same after each
// result. BullMQ's Worker completes a job and fetches the next in one
// script call on its own connection, which has no place for a WAIT, so a
// completion is not on the replica when the worker moves on; only the
// drain's end is.
'use strict';
const readline = require('readline');
const { Queue, Worker, QueueEvents } = require('bullmq');
const { Redis } = require('ioredis');

const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT), maxRetriesPerRequest: null };
const name = 'bench';
const queue = new Queue(name, { connection });
const admin = new Redis(connection); // FLUSHALL between measurements

const waitReplica = process.env.REDIS_WAIT === '1';
const waitTimeout = 30000; // ms a WAIT may take before the request fails

// replicated resolves once the replica has every write client has made
// (nothing without REDIS_WAIT).
async function replicated(client) {
  if (!waitReplica) return;
  const n = await client.wait(1, waitTimeout);
  if (n < 1) throw new Error(`WAIT 1 ${waitTimeout}: the replica did not acknowledge`);
}

// allReplicated writes a marker through the admin connection and waits for
// the replica to have it, and so every write before it.
async function allReplicated() {
  if (!waitReplica) return;
  await admin.incr('bench:marker');
  await replicated(admin);
}

let qclient; // the Queue's connection, for WAIT after its writes

const now = () => process.hrtime.bigint();
const seconds = (t0) => Number(now() - t0) / 1e9;

async function reset() {
  await admin.flushall();
}

async function one(n) {
  const t0 = now();
  for (let i = 0; i < n; i++) {
    await queue.add('noop', { i });
    await replicated(qclient);
  }
  return { seconds: seconds(t0) };
}

async function fill(n, batch) {
  for (let i = 0; i < n; i += batch) {
    const jobs = [];
    for (let j = i; j < Math.min(n, i + batch); j++) jobs.push({ name: 'noop', data: { i: j } });
    await queue.addBulk(jobs);
    await replicated(qclient);
  }
}

async function bulk(n, batch) {
  const t0 = now();
  await fill(n, batch);
  return { seconds: seconds(t0) };
}

async function drain(n, concurrency) {
  const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: false });
  await worker.waitUntilReady();
  let completed = 0;
  let failed = null;
  const done = new Promise((resolve) => {
    worker.on('completed', () => { if (++completed === n) resolve(); });
    worker.on('failed', (job, err) => { failed = err; resolve(); });
  });
  const t0 = now();
  worker.run();
  await done;
  if (!failed) await allReplicated();
  const s = seconds(t0);
  await worker.close();
  if (failed) throw failed;
  return { seconds: s };
}

async function latency(n, warm) {
  const events = new QueueEvents(name, { connection });
  await events.waitUntilReady();
  const worker = new Worker(name, async (job) => ({ i: job.data.i }), { connection, concurrency: 64 });
  await worker.waitUntilReady();
  const ms = [];
  try {
    for (let i = 0; i < warm + n; i++) {
      const t0 = now();
      const job = await queue.add('noop', { i });
      const r = await job.waitUntilFinished(events, 30000);
      await allReplicated();
      if (!r || r.i !== i) throw new Error(`job ${job.id} returned ${JSON.stringify(r)}, want {"i":${i}}`);
      if (i >= warm) ms.push(Number(now() - t0) / 1e6);
    }
  } finally {
    await worker.close();
    await events.close();
  }
  return { ms };
}

async function handle(req) {
  try {
    let out;
    switch (req.op) {
      case 'one': out = await one(req.n); break;
      case 'bulk': out = await bulk(req.n, req.batch); break;
      case 'fill': out = await bulk(req.n, req.batch); break;
      case 'drain': out = await drain(req.n, req.concurrency); break;
      case 'latency': out = await latency(req.n, req.warm); break;
      default: throw new Error(`unknown op ${JSON.stringify(req.op)}`);
    }
    if (req.op !== 'fill') await reset(); // "drain" works what "fill" left
    return out;
  } catch (err) {
    return { error: String(err && err.stack || err) };
  }
}

async function main() {
  await queue.waitUntilReady();
  qclient = await queue.getBackend().client;
  await reset();
  await allReplicated(); // the replica is in sync
  process.stdout.write(JSON.stringify({ ready: true }) + '\n');
  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const out = await handle(JSON.parse(line));
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  await queue.close();
  await admin.quit();
  process.exit(0);
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack || err) }) + '\n');
  process.exit(1);
});
