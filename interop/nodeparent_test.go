package interop_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/herdrun/herd/child"
)

// nodeResult is the "result" line testdata/parent.js prints.
type nodeResult struct {
	Scenario string   `json:"scenario"`
	Launch   string   `json:"launch"`
	Events   []string `json:"events"`
	Code     *int     `json:"code"`
	Signal   *string  `json:"signal"`
	Stderr   string   `json:"stderr"`
	Error    string   `json:"error"`
}

// runNodeParent runs `node testdata/parent.js scenario launch BIN`, where
// BIN is this test binary, and returns its result line. It fails the test
// if node fails or prints no result.
func runNodeParent(t *testing.T, scenario, launch string) nodeResult {
	t.Helper()
	node := requireNode(t)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	res, err := child.ExecFile(ctxT(t), node, []string{"testdata/parent.js", scenario, launch, bin}, &child.Options{
		Timeout:   2 * waitTimeout,
		MaxBuffer: -1,
	})
	var r nodeResult
	found := false
	for line := range strings.Lines(string(res.Stdout)) {
		if s, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "result "); ok {
			if jerr := json.Unmarshal([]byte(s), &r); jerr != nil {
				t.Fatalf("bad result line %q: %v", s, jerr)
			}
			found = true
		}
	}
	if err != nil || !found || r.Error != "" {
		t.Fatalf("node parent.js %s %s: %v\nnode error: %s\nstdout:\n%s\nstderr (node and the Go child):\n%s",
			scenario, launch, err, r.Error, res.Stdout, res.Stderr)
	}
	return r
}

var launches = []string{"fork", "spawn"}

// TestNodeParentGoChild plays each shared scenario with Node as the parent
// and this test binary as its child, started with fork and with spawn. The
// Go child exits 0 only if its side passed.
func TestNodeParentGoChild(t *testing.T) {
	for _, name := range sharedScenarioNames {
		for _, launch := range launches {
			t.Run(name+"/"+launch, func(t *testing.T) {
				r := runNodeParent(t, name, launch)
				if r.Code == nil || *r.Code != 0 {
					t.Fatalf("Go child exit: code %v signal %v, want 0 (result %+v)", deref(r.Code), deref(r.Signal), r)
				}
			})
		}
	}
}

// TestNodeParentDisconnects: child.disconnect() in Node ends the Go child's
// Recv with ipc.ErrDisconnected (the child exits 0 only then).
func TestNodeParentDisconnects(t *testing.T) {
	for _, launch := range launches {
		t.Run(launch, func(t *testing.T) {
			r := runNodeParent(t, "wait-disconnect", launch)
			if r.Code == nil || *r.Code != 0 {
				t.Fatalf("Go child exit: code %v signal %v, want 0", deref(r.Code), deref(r.Signal))
			}
		})
	}
}

// TestGoChildCloseDisconnectsNode: Conn.Close in the Go child fires
// 'disconnect' in the Node parent while the child still runs.
func TestGoChildCloseDisconnectsNode(t *testing.T) {
	for _, launch := range launches {
		t.Run(launch, func(t *testing.T) {
			r := runNodeParent(t, "close-channel", launch)
			if !slices.Equal(r.Events, []string{"disconnect", "exit"}) {
				t.Errorf("events = %v, want [disconnect exit]", r.Events)
			}
			if r.Signal == nil || *r.Signal != "SIGTERM" {
				t.Errorf("Go child ended with code %v signal %v, want SIGTERM from the parent", deref(r.Code), deref(r.Signal))
			}
		})
	}
}

// TestGoChildExitCode: a Go child exiting 5 gives Node's 'exit' code 5.
func TestGoChildExitCode(t *testing.T) {
	for _, launch := range launches {
		t.Run(launch, func(t *testing.T) {
			r := runNodeParent(t, "exit5", launch)
			if r.Code == nil || *r.Code != 5 {
				t.Fatalf("Node saw exit code %v signal %v, want 5", deref(r.Code), deref(r.Signal))
			}
		})
	}
}

// TestGoChildRefusesAdvancedSerialization: a Node parent with
// serialization: 'advanced' gets a Go child that exits non-zero and says why.
func TestGoChildRefusesAdvancedSerialization(t *testing.T) {
	for _, launch := range launches {
		t.Run(launch, func(t *testing.T) {
			r := runNodeParent(t, "advanced", launch)
			if r.Code == nil || *r.Code == 0 {
				t.Fatalf("Go child exit code %v signal %v, want non-zero", deref(r.Code), deref(r.Signal))
			}
			for _, want := range []string{"unsupported serialization", `"advanced"`, "serialization: 'json'"} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("Go child stderr %q does not contain %q", r.Stderr, want)
				}
			}
		})
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}
