package jobsexec_test

import (
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
)

// job is a Job as a worker would hand it to Handle (without a store:
// Progress then fails, and the Runner carries on).
func job(id string, args string) *jobs.Job[json.RawMessage] {
	return &jobs.Job[json.RawMessage]{ID: id, Kind: "k", Queue: "default", Attempt: 1, MaxAttempts: 1, Args: json.RawMessage(args)}
}

func handle(t *testing.T, r *jobsexec.Runner, j *jobs.Job[json.RawMessage], d time.Duration) (json.RawMessage, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return r.Handle(ctx, j)
}

// TestNoLeaks: many attempts, kept and one-shot, ended every way, leave no
// descriptor open once the Runners are closed.
func TestNoLeaks(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Fatal(err)
	}
	before := testutil.CountFDs(t)
	once, err := jobsexec.New(jobsexec.Config{Command: []string{"sh", "-c", `read a; case "$a" in 1) echo '{"ok":1}';; 2) echo boom >&2; exit 2;; 3) exit 3;; *) sleep 300;; esac`}})
	if err != nil {
		t.Fatal(err)
	}
	kept, err := jobsexec.New(jobsexec.Config{Keep: true, Command: []string{"sh", "-c", `while read line; do
  case "$line" in
    *'"args":1'*) echo '{"result":1}';;
    *'"args":2'*) echo '{"error":"two"}';;
    *'"args":3'*) exit 3;;
    *) sleep 300;;
  esac
done`}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		for _, r := range []*jobsexec.Runner{once, kept} {
			arg := []string{"1", "2", "3"}[i%3]
			d := 60 * time.Second
			if i%4 == 3 {
				arg, d = "4", 300*time.Millisecond // the context ends: killed
			}
			_, err := handle(t, r, job("j", arg), d)
			switch {
			case arg == "1" && err != nil:
				t.Fatalf("%s: %v", arg, err)
			case arg == "4" && !errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("%s: %v, want the deadline", arg, err)
			case arg != "1" && err == nil:
				t.Fatalf("%s: no error", arg)
			}
		}
	}
	once.Close()
	kept.Close()
	if _, err := handle(t, kept, job("j", "1"), time.Minute); !errors.Is(err, jobsexec.ErrClosed) {
		t.Fatalf("Handle after Close: %v", err)
	}
	testutil.WaitFor(t, "descriptors back to the count before", func() bool { return testutil.CountFDs(t) <= before })
}

// TestMaxResult: a result over MaxResult fails the attempt, one-shot
// and kept, with an error that says what to do.
func TestMaxResult(t *testing.T) {
	big := `head -c 5000 /dev/zero | tr '\0' 'x'`
	for _, keep := range []bool{false, true} {
		cmd := `read a; printf '"'; ` + big + `; echo '"'`
		if keep {
			cmd = `read a; printf '{"result":"'; ` + big + `; echo '"}'; sleep 300`
		}
		r, err := jobsexec.New(jobsexec.Config{Keep: keep, MaxResult: 1000, Command: []string{"sh", "-c", cmd}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = handle(t, r, job("j", "1"), time.Minute)
		r.Close()
		if !errors.Is(err, jobsexec.ErrProtocol) || !strings.Contains(err.Error(), "1000 bytes (Config.MaxResult)") {
			t.Errorf("keep %v: %v, want a protocol error naming MaxResult", keep, err)
		}
	}
}

func TestNewChecks(t *testing.T) {
	for _, cfg := range []jobsexec.Config{
		{},
		{Command: []string{""}},
		{Command: []string{"x"}, Transport: 7},
		{Command: []string{"x"}, Timeout: -time.Second},
	} {
		if _, err := jobsexec.New(cfg); err == nil || !strings.Contains(err.Error(), "Config.") {
			t.Errorf("%+v: %v, want an error naming the field", cfg, err)
		}
	}
	for in, want := range map[string]jobsexec.Transport{"auto": jobsexec.TransportAuto, "stdio": jobsexec.TransportStdio, "ipc": jobsexec.TransportIPC} {
		if got, err := jobsexec.ParseTransport(in); err != nil || got != want || got.String() != in {
			t.Errorf("ParseTransport(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := jobsexec.ParseTransport("pipe"); err == nil {
		t.Error("ParseTransport(pipe): no error")
	}
	for cmd, want := range map[string]bool{"node": true, "/usr/bin/node": true, "w.js": true, "w.mjs": true, "./w.cjs": true, "python3": false, "nodejs": true, "w.jsx": false} {
		if got := jobsexec.IsNode([]string{cmd}); got != want {
			t.Errorf("IsNode(%q) = %v", cmd, got)
		}
	}
}
