// Log keys under the names older PM2 docs and blog posts use.
module.exports = {
  apps: [
    { name: 'a', script: 'a.js', output: 'out/a.log', error: 'out/a.err', log: 'out/a.all', time: true },
    { name: 'b', script: 'a.js', out: 'out/b.log', err: 'out/b.err', error: 'ignored.err', combine_logs: true },
    { name: 'c', script: 'a.js', outFile: 'out/c.log', errorFile: 'out/c.err', logDateFormat: 'HH:mm:ss.SSS' },
  ],
};
