module.exports = {
  apps: [
    { name: 'default-stop', script: 'app.js' },
    { name: 'term', script: 'app.js', kill_signal: 'SIGTERM', kill_timeout: 8000 },
    { name: 'message', script: 'app.js', shutdown_with_message: true, treekill: false },
  ],
};
