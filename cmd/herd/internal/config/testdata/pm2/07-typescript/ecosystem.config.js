module.exports = {
  apps: [{ name: 'api-ts', script: 'src/index.ts', env: { PORT: 7000 } }],
};
