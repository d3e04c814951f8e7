'use strict';
// A Node child of a Go parent (child.Fork with ipc.ModeNode):
//   node child.js SCENARIO
// It uses process.send and process.on('message') as any Node child does.

const { Peer } = require('./lib');
const scenarios = require('./scenarios');

const name = process.argv[2];

setTimeout(() => {
  console.error(`node child ${name}: timed out`);
  process.exit(2);
}, 60000).unref();

function fail(err) {
  console.error(`node child ${name}:`, err);
  process.exit(1);
}

if (scenarios[name]) {
  const peer = new Peer(process);
  process.on('disconnect', () => {
    if (!peer.finished) return; // the scenario's pending next() reports it
    try {
      peer.assertIdle();
    } catch (err) {
      fail(err);
    }
    // With the channel gone, nothing should keep this process alive.
    setTimeout(() => {
      console.error(`node child ${name}: still running 5s after disconnect:`, process.getActiveResourcesInfo());
      process.exit(2);
    }, 5000).unref();
  });
  scenarios[name](peer).catch(fail);
} else {
  switch (name) {
    case 'wait-disconnect':
      // Exit by itself once the Go parent closes the channel.
      process.on('disconnect', () => console.log('node child saw disconnect'));
      process.send('ready');
      break;
    case 'disconnect-self':
      process.send('bye', () => process.disconnect());
      break;
    case 'exit3':
      process.exit(3);
      break;
    default:
      fail(new Error('unknown scenario'));
  }
}
