package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
)

// config is one run of the harness. Zero counts take their defaults from
// fill, which depends on Quick.
type config struct {
	Rounds       int    // alternating rounds; 0 means 9 (1 with Quick)
	Quick        bool   // smoke pass: tiny counts
	JSONPath     string // raw samples; "" means OutDir/ipc.json
	OutDir       string // where JSONPath defaults to; "" means a new temp dir
	MarkdownPath string // the table as Markdown; "" means none
	NodeDir      string // the Node scripts; "" means <repo>/bench/node
	Only         string // comma-separated groups to run; "" means all
	Command      string // the command line, recorded in the report

	Out io.Writer // the table
	Log io.Writer // progress

	ForkSamples int // forks per round, after one warm-up
	RTTWarm     int // round trips not timed, per round
	RTTN        int // round trips timed, per round
	MsgWarm     int // small messages sent before the timed batch
	MsgN        int // small messages in the timed batch
	MsgBatch    int // messages per SendBatch call in the "herd batch" side
	BytesSize   int // payload size of the bytes measurement
	BytesWarm   int // payloads sent before the timed batch
	BytesN      int // payloads in the timed batch (herd, Node advanced, floor)
	BytesJSONN  int // payloads in the timed batch for Node json (it is slow)
	ExecSamples int // exec or spawn calls per round, after two warm-ups
	StreamBytes int // bytes the producer writes to stdout
	Timeout     time.Duration
}

// groups are the measurement groups, in the order they run in a round.
var groups = []string{"fork", "rtt", "msgs", "bytes", "exec", "stream"}

func defaultConfig() config { return config{} }

// fill sets every zero field to its default and resolves the paths.
func (c *config) fill() error {
	def := func(p *int, full, quick int) {
		if *p == 0 {
			*p = full
			if c.Quick {
				*p = quick
			}
		}
	}
	def(&c.Rounds, 9, 1)
	def(&c.ForkSamples, 5, 1)
	def(&c.RTTWarm, 2000, 50)
	def(&c.RTTN, 20000, 300)
	def(&c.MsgWarm, 20000, 200)
	def(&c.MsgN, 200000, 2000)
	def(&c.MsgBatch, 128, 128)
	def(&c.BytesSize, 64<<10, 64<<10)
	def(&c.BytesWarm, 64, 4)
	def(&c.BytesN, 1024, 32)
	def(&c.BytesJSONN, 64, 4)
	def(&c.ExecSamples, 20, 2)
	def(&c.StreamBytes, 256<<20, 8<<20)
	if c.Timeout == 0 {
		c.Timeout = 120 * time.Second
	}
	if c.Rounds < 1 {
		return fmt.Errorf("rounds must be at least 1, got %d", c.Rounds)
	}
	if c.MsgBatch < 1 {
		return fmt.Errorf("msg-batch must be at least 1, got %d", c.MsgBatch)
	}
	if c.StreamBytes%(1<<20) != 0 {
		return fmt.Errorf("stream bytes must be a whole number of MiB, got %d", c.StreamBytes)
	}
	for _, g := range c.only() {
		if !slices.Contains(groups, g) {
			return fmt.Errorf("unknown group %q in -only (groups: %s)", g, strings.Join(groups, ","))
		}
	}
	if c.NodeDir == "" {
		root, err := report.RepoRoot()
		if err != nil {
			return err
		}
		c.NodeDir = filepath.Join(root, "bench", "node")
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return nil
}

// only returns the groups selected by Only, or nil for all.
func (c *config) only() []string {
	if c.Only == "" {
		return nil
	}
	return strings.Split(c.Only, ",")
}

// runs reports whether group g is selected.
func (c *config) runs(g string) bool {
	o := c.only()
	return o == nil || slices.Contains(o, g)
}
