// Build, then serve: PM2 runs a script with spaces through bash -c.
module.exports = {
  apps: [
    { name: 'build-and-serve', script: 'npm run build && npm start', args: '--verbose' },
    { script: 'node dist/main.js --port 5000' },
  ],
};
