package main

import (
	"fmt"
	"strings"

	"github.com/herdrun/herd/bench/internal/report"
)

// Contender names as they appear in the table.
const (
	nameNodeFork     = "node fork"
	nameNodeJSON     = "node json"
	nameNodeAdvanced = "node advanced"
	nameNodeU8       = "node advanced Uint8Array"
	nameNodeBuffer   = "node json Buffer"
	nameHerdNodeMode = "herd node-mode"
	nameFloor        = "socketpair floor"
	nameFloorWrites  = "socketpair floor, 1 write/msg"
	nameNodeExec     = "node exec"
	nameNodeSpawn    = "node spawn"
	nameNodeStream   = "node spawn stdout"
)

// sendQueue is the parent's ipc.Options.SendQueue in the "send queue" row.
const sendQueue = 64 << 10

// ref names a recorded series for a row.
type ref struct{ id, name string }

// best returns the name of the Node variant with the better median among
// refs (higher or lower by better): the one a careful Node user would pick,
// and the one the row's target is a ratio to.
func (b *bench) best(better string, refs ...ref) string {
	name, m := "", 0.0
	for _, r := range refs {
		x := report.Median(b.samples[r.id])
		if x != x { // NaN: not measured
			continue
		}
		if name == "" || (better == "higher" && x > m) || (better == "lower" && x < m) {
			name, m = r.name, x
		}
	}
	return name
}

func (b *bench) series(r ref) report.Series {
	return report.Series{Name: r.name, Samples: b.samples[r.id]}
}

// rows turns the recorded series into the table's rows, for the groups that
// ran.
func (b *bench) rows() []report.Row {
	c := b.cfg
	var rows []report.Row
	row := func(suite, name, unit, better string, herd ref, peers []ref, target string, ratio float64, note string) {
		r := report.Row{Suite: suite, Name: name, Unit: unit, Better: better, Herd: b.series(herd),
			TargetPeer: target, TargetRatio: ratio, Note: note}
		for _, p := range peers {
			r.Peers = append(r.Peers, b.series(p))
		}
		rows = append(rows, r)
	}
	if c.runs("fork") {
		row("ipc", "fork → first message", "ms", "lower",
			ref{"fork.herd", "herd ForkSelf"}, []ref{{"fork.node", nameNodeFork}}, nameNodeFork, 0.15,
			fmt.Sprintf("from the start call to the child's first message received; median of %d forks per round", c.ForkSamples))
	}
	if c.runs("rtt") {
		note := fmt.Sprintf("{i:n} sent to an echo child and back, one at a time; %d timed after %d warm-up per round; floor: %d-byte blocking read/write echo on a bare socketpair",
			c.RTTN, c.RTTWarm, floorMsgSize)
		fast50, fast99 := ref{"rtt.fast.p50", "herd fast"}, ref{"rtt.fast.p99", "herd fast"}
		json50, adv50 := ref{"rtt.nodejson.p50", nameNodeJSON}, ref{"rtt.nodeadv.p50", nameNodeAdvanced}
		row("ipc", "round trip p50", "µs", "lower", fast50,
			[]ref{json50, adv50, {"rtt.nodemode.p50", nameHerdNodeMode}, {"rtt.floor.p50", nameFloor}},
			b.best("lower", json50, adv50), 0.7, note+"; target: the faster Node serialization")
		row("ipc", "round trip p50 vs floor", "µs", "lower", fast50,
			[]ref{{"rtt.floor.p50", nameFloor}}, nameFloor, 1.5, "same samples as the row above")
		row("ipc", "round trip p99", "µs", "lower", fast99,
			[]ref{{"rtt.nodejson.p99", nameNodeJSON}, {"rtt.nodeadv.p99", nameNodeAdvanced}, {"rtt.nodemode.p99", nameHerdNodeMode}, {"rtt.floor.p99", nameFloor}},
			"", 0, "same runs as the p50 rows")
		row("ipc", "round trip p50, node-mode", "µs", "lower", ref{"rtt.nodemode.p50", nameHerdNodeMode},
			[]ref{{"rtt.nodejson.p50", nameNodeJSON}}, "", 0, "herd to herd over Node's json framing")
		row("ipc", "round trip p99, node-mode", "µs", "lower", ref{"rtt.nodemode.p99", nameHerdNodeMode},
			[]ref{{"rtt.nodejson.p99", nameNodeJSON}}, "", 0, "herd to herd over Node's json framing")
	}
	if c.runs("msgs") {
		note := fmt.Sprintf("%d messages {i:n} one way, sent back to back, until the child reports all received (after %d warm-up); Node waits for send()'s callback whenever send() returns false; floor: one blocking %d-byte write per message on a bare socketpair; target: the faster Node serialization", c.MsgN, c.MsgWarm, floorSmallSize)
		json, adv := ref{"msgs.nodejson", nameNodeJSON}, ref{"msgs.nodeadv", nameNodeAdvanced}
		peers := []ref{json, adv, {"msgs.floor", nameFloorWrites}}
		bestNode := b.best("higher", json, adv)
		row("ipc", "small messages", "msg/s", "higher", ref{"msgs.fast", "herd fast"}, peers, bestNode, 2, note)
		row("ipc", "small messages, node-mode", "msg/s", "higher", ref{"msgs.nodemode", nameHerdNodeMode}, peers, "", 0,
			"herd to herd over Node's json framing")
		row("ipc", "small messages, batched", "msg/s", "higher", ref{"msgs.batch", "herd batch"}, peers, bestNode, 8,
			fmt.Sprintf("the same messages sent with SendBatch, %d per call (fast mode); Node's side is unchanged: its send() writes one message per system call too, queueing only what the socket does not take", c.MsgBatch))
		row("ipc", "small messages, send queue", "msg/s", "higher", ref{"msgs.queue", "herd Send, SendQueue"}, peers, bestNode, 2,
			fmt.Sprintf("the same Send loop (fast mode) on a channel with Options.SendQueue = %d KiB: Send returns once its message is queued, as Node's send() does, and a writer goroutine writes what has queued with one system call; Flush after the last", sendQueue>>10))
	}
	if c.runs("bytes") {
		row("ipc", fmt.Sprintf("%d KiB payloads", c.BytesSize>>10), "MiB/s", "higher", ref{"bytes.fast", "herd fast SendBytes"},
			[]ref{{"bytes.nodeadv", nameNodeU8}, {"bytes.nodejson", nameNodeBuffer}, {"bytes.floor", nameFloor}},
			b.best("higher", ref{"bytes.nodeadv", nameNodeU8}, ref{"bytes.nodejson", nameNodeBuffer}), 2,
			fmt.Sprintf("%d payloads one way until the child reports all received (Node json Buffer: %d); Node waits for send()'s callback whenever send() returns false; floor: blocking writes on a bare socketpair; target: the faster Node serialization", c.BytesN, c.BytesJSONN))
		row("ipc", fmt.Sprintf("%d KiB payloads vs floor", c.BytesSize>>10), "MiB/s", "higher", ref{"bytes.fast", "herd fast SendBytes"},
			[]ref{{"bytes.floor", nameFloor}}, nameFloor, 0.5, "same samples as the row above")
	}
	if c.runs("exec") {
		note := fmt.Sprintf("median of %d calls per round, after 2 warm-up", c.ExecSamples)
		row("child", "exec('true')", "ms", "lower", ref{"exec.herd", "herd Exec"},
			[]ref{{"exec.node", nameNodeExec}}, nameNodeExec, 0.5, "through /bin/sh -c, until the result; "+note)
		row("child", "spawn('true')", "ms", "lower", ref{"spawn.herd", "herd Spawn+Wait"},
			[]ref{{"spawn.node", nameNodeSpawn}}, nameNodeSpawn, 0.5, "stdio pipes, until exit and stdio closed; "+note)
	}
	if c.runs("stream") {
		row("child", "stdout streaming", "MiB/s", "higher", ref{"stream.herd", "herd Spawn Stdout"},
			[]ref{{"stream.node", nameNodeStream}}, nameNodeStream, 2,
			fmt.Sprintf("%s, read to EOF in 64 KiB reads; span from spawn to exit", strings.Join(streamArgs(c.StreamBytes), " ")))
	}
	return rows
}
