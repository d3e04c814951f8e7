'use strict';
// The careful way to send a stream of messages with child.send(): send until
// send() returns false, then wait for that message's callback before sending
// more. send() returns false once the channel's write queue holds more than
// 128 KiB that the socket has not taken; a sender that keeps calling it
// anyway makes Node queue every message in user space (each one a
// serialized copy and a pending write request), which is several times
// slower than pacing on the callback. Callbacks run in send order, so the
// callback of the message whose send() returned false means the queue has
// drained below that point.
//
// pump(cp, count, make, done): sends make(0..count-1) to cp and calls done()
// once the last send() has been accepted (the child still has to read it).
function pump(cp, count, make, done) {
  let sent = 0; // messages handed to send()
  let acked = 0; // send() callbacks seen
  let waitFor = -1; // when paused: the acked count that resumes sending
  const onSent = (err) => {
    if (err) { console.error(err); process.exit(1); }
    acked++;
    if (acked === waitFor) { waitFor = -1; go(); }
  };
  function go() {
    while (sent < count) {
      const ok = cp.send(make(sent), onSent);
      sent++;
      if (!ok) { waitFor = sent; return; }
    }
    done();
  }
  go();
}

module.exports = { pump };
