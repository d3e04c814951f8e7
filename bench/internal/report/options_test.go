package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOptions(t *testing.T) {
	var o Options
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	o.Flags(fs, "suite")
	dir := t.TempDir()
	md := filepath.Join(dir, "t.md")
	if err := fs.Parse([]string{"-quick", "-out", dir, "-md", md}); err != nil {
		t.Fatal(err)
	}
	if !o.Quick || o.OutDir != dir || o.MarkdownPath != md || o.Rounds != 0 {
		t.Fatalf("parsed %+v", o)
	}
	if u := fs.Lookup("out").Usage; !strings.Contains(u, "DIR/suite.json") {
		t.Errorf("-out usage %q does not name suite.json", u)
	}
	o.SetRounds()
	if o.Rounds != 1 {
		t.Errorf("quick rounds = %d, want 1", o.Rounds)
	}
	o2 := Options{Rounds: 3}
	if o2.SetRounds(); o2.Rounds != 3 {
		t.Errorf("explicit rounds became %d", o2.Rounds)
	}
	o2 = Options{}
	if o2.SetRounds(); o2.Rounds != 5 {
		t.Errorf("default rounds = %d, want 5", o2.Rounds)
	}
	if c := CommandLine("go run ./bench/x", nil); c != "go run ./bench/x" {
		t.Errorf("CommandLine without args = %q", c)
	}
	if c := CommandLine("go run ./bench/x", []string{"-quick", "-md", "a.md"}); c != "go run ./bench/x -quick -md a.md" {
		t.Errorf("CommandLine = %q", c)
	}

	o.Command = "cmd"
	r := New(o.Command)
	sr := NamedSeries([]string{"herd", "peer"}, [][]float64{{1, 2}, {3}})
	if len(sr) != 2 || sr[0].Name != "herd" || sr[1].Name != "peer" || len(sr[0].Samples) != 2 || sr[1].Samples[0] != 3 {
		t.Fatalf("NamedSeries = %+v", sr)
	}
	r.Add(Row{Suite: "suite", Name: "row one", Unit: "ms", Better: "lower", Herd: sr[0], Peers: sr[1:]})
	var out, log bytes.Buffer
	if err := o.Finish(r, "suite", &out, &log); err != nil {
		t.Fatal(err)
	}
	jsonPath := filepath.Join(dir, "suite.json")
	if !strings.Contains(out.String(), "row one") {
		t.Errorf("table lacks the row:\n%s", out.String())
	}
	if strings.TrimSpace(log.String()) != "raw samples: "+jsonPath {
		t.Errorf("log = %q", log.String())
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil || got.Command != "cmd" || len(got.Rows) != 1 {
		t.Fatalf("saved %s: %v", b, err)
	}
	if b, err := os.ReadFile(md); err != nil || !strings.Contains(string(b), "row one") {
		t.Errorf("markdown %q: %v", b, err)
	}
}
