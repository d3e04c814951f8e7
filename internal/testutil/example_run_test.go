package testutil

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartRun(t *testing.T) {
	errStopped := errors.New("stopped")
	run := func(ctx context.Context, stdout io.Writer, getenv func(string) string) error {
		fmt.Fprintf(stdout, "listening on %s\nmore\n", getenv("ADDR"))
		<-ctx.Done()
		return errStopped
	}
	rest, out, stop := StartRun(t, run, map[string]string{"ADDR": "http://x"}, "listening on ")
	if rest != "http://x" {
		t.Errorf("rest = %q, want http://x", rest)
	}
	if err := stop(); !errors.Is(err, errStopped) {
		t.Errorf("stop = %v, want run's error", err)
	}
	if err := stop(); !errors.Is(err, errStopped) {
		t.Errorf("second stop = %v, want run's error again", err)
	}
	if !strings.Contains(out.String(), "more\n") {
		t.Errorf("output %q lacks the second line", out.String())
	}
}

func TestSignalWait(t *testing.T) {
	cmd := exec.Command("sh", "-c", "echo up; exec sleep 60")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	lines := make(chan string, 10)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if l := <-lines; l != "up" {
		t.Fatalf("first line %q", l)
	}
	err = SignalWait(t, cmd, syscall.SIGTERM, lines, time.Minute)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Fatalf("SignalWait = %v, want death by SIGTERM", err)
	}
}

// errorsTB records Errorf calls instead of failing the test.
type errorsTB struct {
	testing.TB
	errs []string
}

func (e *errorsTB) Helper() {}

func (e *errorsTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}

func TestGetOK(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusTeapot)
			return
		}
		io.WriteString(w, "body")
	}))
	defer srv.Close()
	rec := &errorsTB{TB: t}
	if b := GetOK(rec, srv.URL+"/"); b != "body" || len(rec.errs) != 0 {
		t.Errorf("GetOK(/) = %q, errors %q", b, rec.errs)
	}
	GetOK(rec, srv.URL+"/bad")
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "418") {
		t.Errorf("GetOK(/bad) errors %q, want one naming status 418", rec.errs)
	}
	rec.errs = nil
	srv.Close()
	GetOK(rec, srv.URL+"/")
	if len(rec.errs) != 1 {
		t.Errorf("GetOK on a closed server: errors %q, want one", rec.errs)
	}
}
