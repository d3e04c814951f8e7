package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {}} {
		code, out, errOut := runHerd(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Errorf("herd %q: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{
			"herd brings the Node.js parallelism model to Go",
			"herd demo",
			"\n  demo ",
			"\n  version ",
			"\n  jobs ",
			"Usage:\n  herd [command]",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("herd %q: help lacks %q:\n%s", args, want, out)
			}
		}
	}
	code, out, _ := runHerd(t, nil, "demo", "--help")
	if code != 0 {
		t.Errorf("herd demo --help: exit %d", code)
	}
	for _, want := range []string{"GET /heavy", "Result is 209999997829288740", "--port", "(default $PORT, else 3000)", "--grace", "HERD_DEMO_LIMIT", "SIGTERM", "--jobs-dir", "POST /jobs"} {
		if !strings.Contains(out, want) {
			t.Errorf("herd demo --help lacks %q:\n%s", want, out)
		}
	}
}

func TestVersion(t *testing.T) {
	home := []string{"HERD_HOME=" + t.TempDir()}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runHerd(t, home, args...)
		// herd version adds the daemon's version on a second line.
		first, rest, _ := strings.Cut(out, "\n")
		want := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
		wantRest := ""
		if args[0] == "version" {
			wantRest = "daemon: not running\n"
		}
		if code != 0 || !strings.HasPrefix(first, "herd ") || !strings.HasSuffix(first, want) || rest != wantRest {
			t.Errorf("herd %q: exit %d, %q; want herd ... %q, then %q", args, code, out, want, wantRest)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"frobnicate"}, nil, `herd: unknown command "frobnicate" for "herd"`},
		{[]string{"--bogus"}, nil, "herd: unknown flag: --bogus"},
		{[]string{"demo", "--bogus"}, nil, "herd: unknown flag: --bogus"},
		{[]string{"demo", "extra"}, nil, `herd: unknown command "extra" for "herd demo"`},
		{[]string{"demo", "--port", "http"}, nil, `herd: invalid argument "http" for "-p, --port" flag`},
		{[]string{"demo", "--port", "70000"}, nil, "herd: --port 70000: want a number from 0 to 65535"},
		{[]string{"demo"}, []string{"PORT=x"}, `herd: PORT: port "x": want a number from 0 to 65535`},
		{[]string{"demo", "--port", "0"}, []string{"HERD_DEMO_LIMIT=-3"}, `herd: HERD_DEMO_LIMIT="-3": want a positive whole number`},
		{[]string{"version", "now"}, nil, `herd: unknown command "now" for "herd version"`},
		{[]string{"jobs", "get"}, nil, "herd: accepts 1 arg(s), received 0"},
		{[]string{"jobs", "submit", "resize", "--max-attempts", "x"}, nil, `herd: invalid argument "x" for "--max-attempts" flag`},
		{[]string{"jobs", "wait", "x", "--timeout", "soon"}, nil, `herd: invalid argument "soon" for "--timeout" flag`},
	} {
		code, out, errOut := runHerd(t, c.env, c.args...)
		if code != 2 {
			t.Errorf("herd %q: exit %d, want 2", c.args, code)
		}
		if out != "" {
			t.Errorf("herd %q: stdout %q, want none", c.args, out)
		}
		if !strings.HasPrefix(errOut, c.want) || !strings.Contains(errOut, "--help' for usage.\n") {
			t.Errorf("herd %q: stderr %q, want %q and a pointer to --help", c.args, errOut, c.want)
		}
		if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
			t.Errorf("herd %q: stderr looks like a crash:\n%s", c.args, errOut)
		}
	}
}

// TestExecuteInProcess checks the same paths without a binary, through
// execute, which main calls.
func TestExecuteInProcess(t *testing.T) {
	run := func(env map[string]string, args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := execute(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
		return code, out.String(), errOut.String()
	}
	if code, out, _ := run(nil, "version"); code != 0 || !strings.HasPrefix(out, "herd ") {
		t.Errorf("version: %d %q", code, out)
	}
	if code, _, errOut := run(nil, "nope"); code != 2 || !strings.Contains(errOut, `unknown command "nope"`) {
		t.Errorf("nope: %d %q", code, errOut)
	}
	if code, _, errOut := run(map[string]string{"PORT": "99999"}, "demo"); code != 2 || !strings.Contains(errOut, "PORT") {
		t.Errorf("demo with PORT=99999: %d %q", code, errOut)
	}
}
