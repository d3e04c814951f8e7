// Workers sized three ways, and a server without exec_mode.
const common = { script: 'worker.js', autorestart: true };

module.exports = {
  apps: [
    { ...common, name: 'all-cores', instances: 0 },
    { ...common, name: 'leave-one', instances: -1 },
    { ...common, name: 'three', instances: '3', exec_mode: 'fork' },
    { ...common, name: 'web', instances: 2, env: { PORT: 3300 } },
  ],
};
