// The tutorial's hello-world app, with no cluster code: PM2 runs it in
// cluster mode (pm2 start cluster-app.js -i 2) for bench/clusterbench.
const http = require('node:http');

http.createServer((req, res) => {
  res.end(`Handled by worker ${process.pid}`);
}).listen(Number(process.env.PORT), '127.0.0.1');
