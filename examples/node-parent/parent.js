'use strict';
// A Node parent that forks a Go program the way it would fork a worker
// script. main.go runs it as:  node parent.js <path of the Go program>

const { fork } = require('node:child_process');

const goProgram = process.argv[2];
const names = ['Ada', 'Grace', 'Linus'];

console.log('node: forking the Go program');

// fork() runs execPath with modulePath as the first argument. A Go program
// has no module to load, so modulePath is just the program again (the Go
// side ignores its arguments). HERD_ROLE names the function that
// child.Dispatch runs in the Go program.
const child = fork(goProgram, [], {
  execPath: goProgram,
  execArgv: [],
  env: { ...process.env, HERD_ROLE: 'greeter' },
});

function sendNext() {
  const msg = { name: names.shift() };
  console.log(`node: sending ${JSON.stringify(msg)}`);
  child.send(msg);
}

child.on('message', (msg) => {
  console.log(`node: got ${JSON.stringify(msg)}`);
  if (names.length > 0) {
    sendNext();
  } else {
    console.log('node: done, disconnecting');
    child.disconnect(); // the Go side's Recv returns ipc.ErrDisconnected
  }
});

child.on('exit', (code, signal) => {
  console.log(`node: Go child exited with code ${code}`);
  process.exitCode = code ?? 1;
});
