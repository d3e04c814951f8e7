// The tutorial's server with Piscina, for herd's responsiveness benchmark:
// GET / answers OK on the main thread; GET /heavy?n=N runs heavy(N) on a
// 2-thread Piscina pool. Prints {"port":N} once listening on 127.0.0.1.
//
// The pool has 2 threads, one per core of the benchmark machine, kept up
// (minThreads = maxThreads, a long idleTimeout), so no request waits for a
// thread to start; heavy() is a plain synchronous function, the fast shape
// for a Piscina task. Its concurrentTasksPerWorker and atomics settings are
// Piscina's defaults here; workers-bench.js measures which settings are
// fastest for throughput.
'use strict';
const http = require('http');
const path = require('path');
const { Piscina } = require('piscina');

const pool = new Piscina({
  filename: path.join(__dirname, 'workers-task.js'),
  minThreads: 2,
  maxThreads: 2,
  idleTimeout: 600000,
});

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/') {
    res.end('OK');
    return;
  }
  if (url.pathname === '/heavy') {
    const n = Number(url.searchParams.get('n') || 1e8);
    const result = await pool.run(n, { name: 'heavy' });
    res.end(`Result is ${result}`);
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
process.on('SIGTERM', () => { server.close(); pool.destroy().then(() => process.exit(0)); });
