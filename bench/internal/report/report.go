// Package report collects benchmark samples for herd and its peers, run
// side by side in one process, and prints them as a table of medians and
// herd/peer ratios, with the raw samples saved as JSON.
//
// A Row measures one thing. Its Herd series and each peer's series are
// sampled in alternation (see Alternate) so that a noisy machine slows both
// sides alike; ratios of medians are what the tables quote.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Series is one contender's samples for a Row.
type Series struct {
	Name    string    `json:"name"`
	Samples []float64 `json:"samples"`
}

// Median returns the median of the samples, or NaN when there are none.
func (s Series) Median() float64 { return Median(s.Samples) }

// Row is one measurement: herd against peers.
type Row struct {
	Suite string `json:"suite"`
	Name  string `json:"name"`
	Unit  string `json:"unit"`
	// Better is "lower" (latencies) or "higher" (throughputs).
	Better string   `json:"better"`
	Herd   Series   `json:"herd"`
	Peers  []Series `json:"peers"`
	// Target, when TargetPeer is set: herd/TargetPeer ratio must be
	// <= TargetRatio (Better "lower") or >= TargetRatio ("higher").
	TargetPeer  string  `json:"target_peer,omitempty"`
	TargetRatio float64 `json:"target_ratio,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Ratio returns median(herd)/median(peer) for the named peer, or NaN.
func (r Row) Ratio(peer string) float64 {
	for _, p := range r.Peers {
		if p.Name == peer {
			return r.Herd.Median() / p.Median()
		}
	}
	return math.NaN()
}

// Met reports whether the row has a target and meets it.
func (r Row) Met() (has, ok bool) {
	if r.TargetPeer == "" {
		return false, false
	}
	x := r.Ratio(r.TargetPeer)
	if r.Better == "lower" {
		return true, x <= r.TargetRatio
	}
	return true, x >= r.TargetRatio
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Go     string `json:"go"`
	Node   string `json:"node"`
	Kernel string `json:"kernel"`
	Date   string `json:"date"`
}

// ReadMachine fills a Machine from this host.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				m.CPU = strings.TrimSpace(l[strings.IndexByte(l, ':')+1:])
				break
			}
		}
	}
	if out, err := exec.Command("node", "--version").Output(); err == nil {
		m.Node = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	return m
}

// Report is a set of rows from one run.
type Report struct {
	Command string  `json:"command"`
	Machine Machine `json:"machine"`
	Rows    []Row   `json:"rows"`
}

// New starts a report for the command line that produced it.
func New(command string) *Report {
	return &Report{Command: command, Machine: ReadMachine()}
}

// Add appends a row.
func (r *Report) Add(row Row) { r.Rows = append(r.Rows, row) }

// Print writes the rows as a table: herd's median, each peer's median
// with the herd/peer ratio, and the target with whether it was met.
func (r *Report) Print(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %s, %d cores, %s, node %s, linux %s, %s\n", m.CPU, m.Cores, m.Go, m.Node, m.Kernel, m.Date)
	fmt.Fprintf(w, "command: %s\n\n", r.Command)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "suite\tmeasure\tunit\therd\tpeers (median, herd/peer)\ttarget\tmet")
	for _, row := range r.Rows {
		var peers []string
		for _, p := range row.Peers {
			peers = append(peers, fmt.Sprintf("%s %s (%.2fx)", p.Name, Fmt(p.Median()), row.Ratio(p.Name)))
		}
		target, met := "", ""
		if has, ok := row.Met(); has {
			op := ">="
			if row.Better == "lower" {
				op = "<="
			}
			target = fmt.Sprintf("%s %.2fx %s", op, row.TargetRatio, row.TargetPeer)
			met = map[bool]string{true: "yes", false: "NO"}[ok]
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Suite, row.Name, row.Unit, Fmt(row.Herd.Median()), strings.Join(peers, "; "), target, met)
	}
	tw.Flush()
}

// Markdown writes the rows as a Markdown table, for bench/README.md.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintln(w, "| suite | measure | unit | herd | peers: median (herd/peer) | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|")
	for _, row := range r.Rows {
		var peers []string
		for _, p := range row.Peers {
			peers = append(peers, fmt.Sprintf("%s %s (%.2f×)", p.Name, Fmt(p.Median()), row.Ratio(p.Name)))
		}
		target, met := "", ""
		if has, ok := row.Met(); has {
			op := "≥"
			if row.Better == "lower" {
				op = "≤"
			}
			target = fmt.Sprintf("%s %.2f× %s", op, row.TargetRatio, row.TargetPeer)
			met = map[bool]string{true: "yes", false: "**no**"}[ok]
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", row.Suite, row.Name, row.Unit, Fmt(row.Herd.Median()), strings.Join(peers, "; "), target, met)
	}
}

// SaveJSON writes the whole report, raw samples included, to path.
func (r *Report) SaveJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Fmt formats a number with three significant digits.
func Fmt(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case x >= 1e6:
		return fmt.Sprintf("%.3gM", x/1e6)
	case x >= 1e4:
		return fmt.Sprintf("%.3gk", x/1e3)
	}
	return fmt.Sprintf("%.3g", x)
}

// Median returns the median of xs, or NaN for none.
func Median(xs []float64) float64 { return Percentile(xs, 50) }

// Percentile returns the p-th percentile (0..100) of xs by nearest rank,
// or NaN for none.
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Alternate runs each fn rounds times, interleaved (fn0, fn1, ..., fn0,
// fn1, ...), and returns each fn's samples. Interleaving spreads the
// machine's noise over all contenders.
func Alternate(rounds int, fns ...func() float64) [][]float64 {
	out := make([][]float64, len(fns))
	for range rounds {
		for i, fn := range fns {
			out[i] = append(out[i], fn())
		}
	}
	return out
}

// Save writes the raw samples to jsonPath (creating its directory) and,
// when mdPath is not empty, the Markdown table to mdPath.
func (r *Report) Save(jsonPath, mdPath string) error {
	if jsonPath != "" {
		if err := os.MkdirAll(filepath.Dir(jsonPath), 0o755); err != nil {
			return err
		}
		if err := r.SaveJSON(jsonPath); err != nil {
			return err
		}
	}
	if mdPath == "" {
		return nil
	}
	f, err := os.Create(mdPath)
	if err != nil {
		return err
	}
	r.Markdown(f)
	return f.Close()
}
