'use strict';
// Child of ipc-rtt.js: sends every message straight back.
process.on('message', (m) => process.send(m));
