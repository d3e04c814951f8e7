// An Express app made with express-generator: bin/www starts the server.
module.exports = {
  apps: [
    {
      name: 'shop',
      script: './bin/www',
      instances: 'max',
      exec_mode: 'cluster',
      watch: false,
      max_memory_restart: '1G',
      env: {
        NODE_ENV: 'development',
        PORT: 3000,
      },
      env_production: {
        NODE_ENV: 'production',
      },
    },
  ],
  deploy: {
    production: { user: 'deploy', host: 'shop.example', ref: 'origin/main', repo: 'git@example:shop.git', path: '/srv/shop' },
  },
};
