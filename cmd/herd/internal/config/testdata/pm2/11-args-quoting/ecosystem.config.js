module.exports = {
  apps: [
    {
      name: 'titled',
      script: 'server.js',
      args: '--title "My App" --mode=prod --label="a b" \'single quoted\'',
      node_args: '--max-old-space-size=4096 --enable-source-maps',
    },
    {
      name: 'listed',
      script: 'server.js',
      args: ['--title', 'My App', 8080],
      node_args: ['--inspect=127.0.0.1:9229'],
    },
  ],
};
