package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/ipc"
)

// floorMsgSize is the socketpair floor's round-trip message: about the size
// of {"i":12345} in either framing (17 bytes in fast mode, 12 in node mode).
const floorMsgSize = 16

// floorSmallSize is the socketpair floor's one-way small message: the size
// of a fast-mode frame of {"i":123456}.
const floorSmallSize = 18

// bench is one run of the harness.
type bench struct {
	cfg     config
	exe     string // this program, for ForkSelf, node-mode children and the raw peer
	nodeBin string

	samples map[string][]float64 // series id -> one sample per round
}

// contender is one side of a measurement. run takes one sample; it may
// record further series of the same run with rec.
type contender struct {
	id  string
	run func() (float64, error)
}

// failure carries a measurement's error out of report.Alternate.
type failure struct{ err error }

func (b *bench) context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), b.cfg.Timeout)
}

func (b *bench) rec(id string, x float64) { b.samples[id] = append(b.samples[id], x) }

// run measures everything cfg selects, prints the table to cfg.Out, saves
// the JSON (and the Markdown, if asked) and returns the report.
func run(cfg config) (rep *report.Report, err error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, samples: map[string][]float64{}}
	if b.exe, err = os.Executable(); err != nil {
		return nil, fmt.Errorf("find this program: %w", err)
	}
	if b.nodeBin, err = exec.LookPath("node"); err != nil {
		return nil, fmt.Errorf("node is needed for the Node side: %w", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.NodeDir, "ipc-rtt.js")); err != nil {
		return nil, fmt.Errorf("node scripts: %w (set -node-dir)", err)
	}

	cs := b.contenders()
	fns := make([]func() float64, len(cs))
	round := 0
	for i, c := range cs {
		fns[i] = func() float64 {
			if i == 0 {
				round++
			}
			t0 := time.Now()
			x, err := c.run()
			if err != nil {
				panic(failure{fmt.Errorf("%s: %w", c.id, err)})
			}
			fmt.Fprintf(cfg.Log, "round %d/%d  %-16s %10s  (%.1fs)\n", round, cfg.Rounds, c.id, report.Fmt(x), time.Since(t0).Seconds())
			return x
		}
	}
	defer func() {
		if v := recover(); v != nil {
			f, ok := v.(failure)
			if !ok {
				panic(v)
			}
			rep, err = nil, f.err
		}
	}()
	for i, s := range report.Alternate(cfg.Rounds, fns...) {
		b.samples[cs[i].id] = s
	}

	rep = report.New(cfg.Command)
	for _, row := range b.rows() {
		rep.Add(row)
	}
	rep.Print(cfg.Out)
	jsonPath, err := report.SamplesPath(cfg.JSONPath, cfg.OutDir, "ipc")
	if err != nil {
		return rep, err
	}
	if err := rep.Save(jsonPath, cfg.MarkdownPath); err != nil {
		return rep, err
	}
	fmt.Fprintf(cfg.Out, "\nraw samples: %s\n", jsonPath)
	return rep, nil
}

// contenders lists every side of every selected measurement, in the order
// they run within a round: each herd side next to its Node counterpart.
func (b *bench) contenders() []contender {
	c := b.cfg
	var cs []contender
	add := func(id string, fn func() (float64, error)) { cs = append(cs, contender{id, fn}) }
	median := func(xs []float64, err error) (float64, error) { return report.Median(xs), err }
	itoa := strconv.Itoa

	if c.runs("fork") {
		add("fork.herd", func() (float64, error) { return median(b.forkFirst(c.ForkSamples)) })
		add("fork.node", func() (float64, error) { return median(b.node("ipc-fork.js", itoa(c.ForkSamples))) })
	}
	if c.runs("rtt") {
		// Each run yields a p50 sample (returned) and a p99 sample (recorded).
		rtt := func(id string, get func() ([]float64, error)) {
			add(id+".p50", func() (float64, error) {
				xs, err := get()
				if err != nil {
					return 0, err
				}
				b.rec(id+".p99", report.Percentile(xs, 99))
				return report.Percentile(xs, 50), nil
			})
		}
		rtt("rtt.fast", func() ([]float64, error) { return b.roundTrips(ipc.ModeFast, c.RTTWarm, c.RTTN) })
		rtt("rtt.nodejson", func() ([]float64, error) { return b.node("ipc-rtt.js", itoa(c.RTTWarm), itoa(c.RTTN), "json") })
		rtt("rtt.nodeadv", func() ([]float64, error) {
			return b.node("ipc-rtt.js", itoa(c.RTTWarm), itoa(c.RTTN), "advanced")
		})
		rtt("rtt.nodemode", func() ([]float64, error) { return b.roundTrips(ipc.ModeNode, c.RTTWarm, c.RTTN) })
		rtt("rtt.floor", func() ([]float64, error) { return b.floorRoundTrips(c.RTTWarm, c.RTTN, floorMsgSize) })
	}
	if c.runs("msgs") {
		add("msgs.fast", func() (float64, error) { return b.smallMsgs(ipc.ModeFast, 0, c.MsgWarm, c.MsgN) })
		add("msgs.nodejson", func() (float64, error) {
			return median(b.node("ipc-msgs.js", "json", itoa(c.MsgWarm), itoa(c.MsgN)))
		})
		add("msgs.nodemode", func() (float64, error) { return b.smallMsgs(ipc.ModeNode, 0, c.MsgWarm, c.MsgN) })
		add("msgs.nodeadv", func() (float64, error) {
			return median(b.node("ipc-msgs.js", "advanced", itoa(c.MsgWarm), itoa(c.MsgN)))
		})
		add("msgs.floor", func() (float64, error) { return b.floorMsgs(c.MsgWarm, c.MsgN, floorSmallSize) })
		add("msgs.batch", func() (float64, error) { return b.smallMsgsBatch(ipc.ModeFast, c.MsgWarm, c.MsgN, c.MsgBatch) })
		add("msgs.queue", func() (float64, error) { return b.smallMsgs(ipc.ModeFast, sendQueue, c.MsgWarm, c.MsgN) })
	}
	if c.runs("bytes") {
		add("bytes.fast", func() (float64, error) { return b.bulkBytes(c.BytesWarm, c.BytesN, c.BytesSize) })
		add("bytes.nodeadv", func() (float64, error) {
			return median(b.node("ipc-bytes.js", "advanced", itoa(c.BytesWarm), itoa(c.BytesN), itoa(c.BytesSize)))
		})
		add("bytes.floor", func() (float64, error) { return b.floorBytes(c.BytesWarm, c.BytesN, c.BytesSize) })
		add("bytes.nodejson", func() (float64, error) {
			return median(b.node("ipc-bytes.js", "json", itoa(max(1, c.BytesWarm/8)), itoa(c.BytesJSONN), itoa(c.BytesSize)))
		})
	}
	if c.runs("exec") {
		add("exec.herd", func() (float64, error) { return median(b.execTrue(false, c.ExecSamples)) })
		add("exec.node", func() (float64, error) { return median(b.node("child-exec.js", "exec", itoa(c.ExecSamples))) })
		add("spawn.herd", func() (float64, error) { return median(b.execTrue(true, c.ExecSamples)) })
		add("spawn.node", func() (float64, error) { return median(b.node("child-exec.js", "spawn", itoa(c.ExecSamples))) })
	}
	if c.runs("stream") {
		add("stream.herd", func() (float64, error) { return b.stream(c.StreamBytes) })
		add("stream.node", func() (float64, error) {
			return median(b.node("child-stream.js", append([]string{itoa(c.StreamBytes)}, streamArgs(c.StreamBytes)...)...))
		})
	}
	return cs
}
