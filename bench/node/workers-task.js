// Task module for the Piscina side of herd's workers benchmarks.
'use strict';
function noop() { return null; }
// spin burns about `us` microseconds of CPU.
function spin(us) {
  const end = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  let x = 0;
  while (process.hrtime.bigint() < end) { x++; }
  return x;
}
// heavy is the tutorial's heavyCalculation with a configurable count.
function heavy(n) {
  let sum = 0;
  for (let i = 0; i < n; i++) { sum += i * 42; }
  return sum;
}
module.exports = noop;
module.exports.noop = noop;
module.exports.spin = spin;
module.exports.heavy = heavy;
