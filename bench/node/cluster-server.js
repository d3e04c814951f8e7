// Node's cluster module running the tutorial's hello-world server, for
// bench/clusterbench. PORT and WORKERS come from the environment; the
// scheduling policy from NODE_CLUSTER_SCHED_POLICY ("rr" or "none"), which
// Node reads itself. Prints READY once every worker listens; respawns a
// worker that dies, as the tutorial does.
//
// Why this is Node at its best: the Go side runs it with both scheduling
// policies (round-robin in the primary, and the kernel's shared accept) and
// each worker answers with a fixed string and no middleware.
const cluster = require('node:cluster');
const http = require('node:http');

const port = Number(process.env.PORT);
const n = Number(process.env.WORKERS || 2);

if (cluster.isPrimary) {
  let listening = 0;
  cluster.on('listening', () => {
    if (++listening === n) console.log('READY');
  });
  cluster.on('exit', () => cluster.fork());
  for (let i = 0; i < n; i++) cluster.fork();
  process.on('SIGTERM', () => {
    cluster.removeAllListeners('exit');
    for (const id in cluster.workers) cluster.workers[id].process.kill('SIGKILL');
    process.exit(0);
  });
} else {
  http.createServer((req, res) => {
    res.end(`Handled by worker ${process.pid}`);
  }).listen(port, '127.0.0.1');
}
