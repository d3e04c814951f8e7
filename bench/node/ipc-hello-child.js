'use strict';
// Child of ipc-fork.js: sends one message as soon as it runs, then stays
// until the parent disconnects (as the herd "hello" role does).
process.send('hello');
process.on('disconnect', () => {});
