'use strict';
// A Node parent of a Go child (this package's test binary):
//   node parent.js SCENARIO fork|spawn BIN
// It starts BIN with HERD_INTEROP_HELPER=SCENARIO, either with
// fork(modulePath, args, {execPath: BIN, execArgv: []}) or with
// spawn(BIN, args, {stdio: [..., 'ipc']}), plays the Node side, and prints
// one line "result {json}" with what happened, for the Go test to check.

const { fork, spawn } = require('node:child_process');
const { Peer, once } = require('./lib');
const scenarios = require('./scenarios');

const [name, launch, bin] = process.argv.slice(2);
const result = { scenario: name, launch, events: [] };

function report(err) {
  if (err) result.error = String(err.stack || err);
  console.log(`result ${JSON.stringify(result)}`);
  if (err) process.exit(1);
  setTimeout(() => {
    console.error(`node parent ${name}: still running 5s after the result:`, process.getActiveResourcesInfo());
    process.exit(2);
  }, 5000).unref();
}

setTimeout(() => report(new Error('timed out')), 60000).unref();

// With 'advanced' the Go child must refuse the channel; keep its stderr.
const advanced = name === 'advanced';
const options = {
  env: { ...process.env, HERD_INTEROP_HELPER: name },
  stdio: ['inherit', 'inherit', advanced ? 'pipe' : 'inherit', 'ipc'],
  serialization: advanced ? 'advanced' : 'json',
};
let child;
if (launch === 'fork') {
  // fork passes its first argument as the program's first argument; the Go
  // child ignores its arguments.
  child = fork('interop-module-path', ['ignored'], { ...options, execPath: bin, execArgv: [] });
} else if (launch === 'spawn') {
  child = spawn(bin, ['ignored'], options);
} else {
  report(new Error(`unknown launch ${launch}`));
}

let stderr = '';
const stderrDone = child.stderr ? once(child.stderr, 'end') : Promise.resolve();
if (child.stderr) {
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; });
}
child.on('disconnect', () => result.events.push('disconnect'));
const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
  result.events.push('exit');
  result.code = code;
  result.signal = signal;
  resolve();
}));
// Not 'close': Node never emits it for a child whose channel the parent
// disconnected.
const closed = Promise.all([exited, stderrDone]);
const peer = new Peer(child);

async function main() {
  if (scenarios[name]) {
    await scenarios[name](peer);
    await closed; // the Go child closes the channel and exits after its side
    peer.assertIdle();
    return;
  }
  switch (name) {
    case 'wait-disconnect':
      await peer.expect('ready', 'ready');
      child.disconnect();
      break;
    case 'close-channel':
      await peer.expect('closing', 'closing');
      await peer.closed();
      // The child closed the channel but still runs: stop it.
      child.kill('SIGTERM');
      break;
    case 'exit5':
      await peer.expect('exiting', 'exiting with 5');
      break;
    case 'advanced':
      break;
    default:
      throw new Error('unknown scenario');
  }
  await closed;
  peer.assertIdle();
  result.stderr = stderr;
}

main().then(() => report(), report);
