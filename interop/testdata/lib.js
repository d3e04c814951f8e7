'use strict';
// Shared by child.js and parent.js: the value corpus (the same as
// corpus_test.go builds), deterministic bytes, and Peer, a promise-based
// view of one end of Node's IPC channel.

const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');

// corpus returns the values of values.json, a deep nesting and a large
// string alone and inside an object.
function corpus() {
  const doc = JSON.parse(fs.readFileSync(path.join(__dirname, 'values.json'), 'utf8'));
  const big = doc.big.pattern.repeat(doc.big.repeat);
  return [...doc.values, deep(doc.deepLevels), big, { big, length: big.length }];
}

// deep nests "bottom" levels deep, alternating objects and arrays, as
// deep() in corpus_test.go does.
function deep(levels) {
  let v = 'bottom';
  for (let i = 0; i < levels; i++) v = i % 2 === 1 ? [v] : { level: i, v };
  return v;
}

// pseudoRandom returns n bytes of xorshift32 output from seed, as
// pseudoRandom() in corpus_test.go does.
function pseudoRandom(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    b[i] = x & 0xff;
  }
  return b;
}

// bytePayloads are the buffers the bytes scenario sends both ways.
function bytePayloads() {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  return [Buffer.alloc(0), all, pseudoRandom(65536, 1), pseudoRandom(300000, 2)];
}

// Peer wraps process (in a child) or a ChildProcess (in a parent). Every
// 'message' is queued, so a scenario reads them in order with next(), and
// any message nobody asked for is caught by assertIdle().
class Peer {
  constructor(target) {
    this.target = target;
    this.inbox = [];
    this.wake = null;
    this.disconnected = false;
    this.finished = false;
    target.on('message', (msg, handle) => {
      this.inbox.push({ msg, handle });
      this.poke();
    });
    target.on('disconnect', () => {
      this.disconnected = true;
      this.poke();
    });
  }

  poke() {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  // next resolves to the next {msg, handle}; it rejects if the channel
  // closes first.
  async next(what) {
    while (this.inbox.length === 0) {
      if (this.disconnected) throw new Error(`channel disconnected while waiting for ${what}`);
      await new Promise((resolve) => { this.wake = resolve; });
    }
    return this.inbox.shift();
  }

  // closed resolves once the channel has disconnected.
  async closed() {
    while (!this.disconnected) {
      await new Promise((resolve) => { this.wake = resolve; });
    }
  }

  // expect checks that the next message equals want and returns its handle.
  async expect(what, want) {
    const { msg, handle } = await this.next(what);
    assert.deepStrictEqual(msg, want, `${what}: got ${JSON.stringify(msg)?.slice(0, 200)}`);
    return handle;
  }

  // send resolves once the message (and handle) are written.
  send(msg, handle) {
    return new Promise((resolve, reject) => {
      this.target.send(msg, handle, (err) => (err ? reject(err) : resolve()));
    });
  }

  // finish sends the scenario's last message; a disconnect after it is
  // expected.
  finish(msg) {
    this.finished = true;
    return this.send(msg);
  }

  assertIdle() {
    assert.equal(this.inbox.length, 0,
      `unexpected messages: ${JSON.stringify(this.inbox.map((m) => m.msg)).slice(0, 300)}`);
  }
}

// once resolves with the arguments of emitter's next event.
function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

module.exports = { corpus, bytePayloads, Peer, once };
