package report

import (
	"flag"
	"fmt"
	"io"
	"strings"
)

// Options are the command-line options a suite's command shares with the
// others: how many alternating rounds, a smoke pass, and where the raw
// samples and the Markdown table go. A suite embeds them in its own config.
type Options struct {
	Rounds       int    // alternating rounds per measurement; see SetRounds
	Quick        bool   // smoke pass: short runs, numbers not meaningful
	JSONPath     string // raw samples; "" means OutDir/<suite>.json
	OutDir       string // where JSONPath defaults to; "" means a new temp dir
	MarkdownPath string // the table as Markdown too, unless ""
	Command      string // the command line that ran the suite (see CommandLine)
}

// Flags registers -rounds, -quick, -out, -json and -md on fs for o. suite
// names the samples file, <suite>.json.
func (o *Options) Flags(fs *flag.FlagSet, suite string) {
	fs.IntVar(&o.Rounds, "rounds", 0, "alternating rounds per measurement (0: 5, or 1 with -quick)")
	fs.BoolVar(&o.Quick, "quick", false, "smoke pass: short runs, numbers not meaningful")
	fs.StringVar(&o.OutDir, "out", "", "save the raw samples as DIR/"+suite+".json (default: a new temp dir; -out bench/results keeps them in the repo)")
	fs.StringVar(&o.JSONPath, "json", "", "save the raw samples to this file (overrides -out)")
	fs.StringVar(&o.MarkdownPath, "md", "", "also write the table as Markdown to this file")
}

// SetRounds gives a zero or negative Rounds its default: 5, or 1 with
// Quick.
func (o *Options) SetRounds() {
	if o.Rounds <= 0 {
		o.Rounds = 5
		if o.Quick {
			o.Rounds = 1
		}
	}
}

// CommandLine returns the command line that runs a suite, such as
// "go run ./bench/runbench -quick": run, then args joined by spaces.
func CommandLine(run string, args []string) string {
	if len(args) == 0 {
		return run
	}
	return run + " " + strings.Join(args, " ")
}

// Finish prints r's table to out, saves its raw samples (to <suite>.json
// unless o.JSONPath says where; see SamplesPath) and, with MarkdownPath,
// its table, and tells log where the samples are.
func (o *Options) Finish(r *Report, suite string, out, log io.Writer) error {
	r.Print(out)
	jsonPath, err := SamplesPath(o.JSONPath, o.OutDir, suite)
	if err != nil {
		return err
	}
	if err := r.Save(jsonPath, o.MarkdownPath); err != nil {
		return err
	}
	fmt.Fprintln(log, "raw samples:", jsonPath)
	return nil
}

// NamedSeries pairs names[i] with samples[i], as Alternate returns them:
// the first is herd's series, the rest the peers'.
func NamedSeries(names []string, samples [][]float64) []Series {
	out := make([]Series, len(names))
	for i := range names {
		out[i] = Series{Name: names[i], Samples: samples[i]}
	}
	return out
}
