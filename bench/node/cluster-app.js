// The tutorial's hello-world app, with no cluster code: PM2 runs it in
// cluster mode (pm2 start cluster-app.js -i 2) for bench/clusterbench.
//
// Why this is PM2 at its best: cluster mode with one instance per core is
// PM2's own fast path for HTTP apps, and the handler does no work besides
// answering.
const http = require('node:http');

http.createServer((req, res) => {
  res.end(`Handled by worker ${process.pid}`);
}).listen(Number(process.env.PORT), '127.0.0.1');
