package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs url and parses the Prometheus text it answers.
func scrape(t *testing.T, url string) (string, map[string]*dto.MetricFamily) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, b)
	}
	return string(b), fams
}

// value returns the value of the series of fam whose labels include want.
func value(fams map[string]*dto.MetricFamily, fam string, want map[string]string) (float64, bool) {
	f, ok := fams[fam]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

// A daemon with MetricsAddr serves its apps and instances in Prometheus
// text, which promlint finds clean; a reload is counted by outcome.
func TestMetrics(t *testing.T) {
	h := HomeAt(filepath.Join(t.TempDir(), "home"))
	addr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	d := New(Config{Home: h, Version: "test-1", MetricsAddr: addr})
	ran := make(chan error, 1)
	go func() { ran <- d.Run(context.Background()) }()
	c := NewClient(h, "test-1")
	defer c.Close()
	ctx := t.Context()
	testutil.WaitFor(t, "the daemon", func() bool { _, err := c.Ping(ctx); return err == nil })
	defer func() {
		if _, err := c.Kill(ctx); err != nil {
			t.Error(err)
		}
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()
	rs, err := c.Start(ctx, []Spec{
		{App: app.App{Name: "web", Command: []string{"/bin/sh", "-c", "exec sleep 300"}, Instances: 2}},
		{App: app.App{Name: "off", Command: []string{"/bin/sh", "-c", "exec sleep 300"}}},
	})
	if err != nil || !rs.Results[0].OK || !rs.Results[1].OK {
		t.Fatalf("start: %+v %v", rs, err)
	}
	if rs, err := c.Action(ctx, "off", "stop", ActionRequest{}); err != nil || !rs.Results[0].OK {
		t.Fatalf("stop: %+v %v", rs, err)
	}
	if rs, err := c.Action(ctx, "web", "reload", ActionRequest{}); err != nil || !rs.Results[0].OK {
		t.Fatalf("reload: %+v %v", rs, err)
	}
	url := "http://" + addr + MetricsPath
	var text string
	var fams map[string]*dto.MetricFamily
	// The reload's new instances are ready when it answers; wait for
	// both to show ready anyway (a slow machine), and for their programs
	// to have memory: one read in the middle of its exec has none yet.
	testutil.WaitFor(t, "2 ready instances of web", func() bool {
		text, fams = scrape(t, url)
		a, _ := value(fams, MetricInstanceUp, map[string]string{"app": "web", "slot": "0"})
		b, _ := value(fams, MetricInstanceUp, map[string]string{"app": "web", "slot": "1"})
		ma, _ := value(fams, MetricInstanceMemory, map[string]string{"app": "web", "slot": "0"})
		mb, _ := value(fams, MetricInstanceMemory, map[string]string{"app": "web", "slot": "1"})
		return a == 1 && b == 1 && ma > 0 && mb > 0
	})
	probs, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	checks := []struct {
		fam    string
		labels map[string]string
		ok     func(float64) bool
		want   string
	}{
		{MetricAppUp, map[string]string{"app": "web"}, func(v float64) bool { return v == 1 }, "1"},
		{MetricAppUp, map[string]string{"app": "off"}, func(v float64) bool { return v == 0 }, "0"},
		{MetricAppInstances, map[string]string{"app": "web"}, func(v float64) bool { return v == 2 }, "2"},
		{MetricAppReloads, map[string]string{"app": "web", "outcome": "succeeded"}, func(v float64) bool { return v == 1 }, "1"},
		{MetricAppReloads, map[string]string{"app": "web", "outcome": "failed"}, func(v float64) bool { return v == 0 }, "0"},
		{MetricAppRestarts, map[string]string{"app": "web"}, func(v float64) bool { return v == 1 }, "1 (the reload)"},
		{MetricInstanceRestarts, map[string]string{"app": "web", "slot": "1"}, func(v float64) bool { return v == 0 }, "0"},
		{MetricInstanceMemory, map[string]string{"app": "web", "slot": "0"}, func(v float64) bool { return v > 100<<10 }, "> 100 KiB"},
		{MetricInstanceFDs, map[string]string{"app": "web", "slot": "1"}, func(v float64) bool { return v >= 3 }, ">= 3"},
		{MetricInstanceCPU, map[string]string{"app": "web", "slot": "0"}, func(v float64) bool { return v >= 0 && v < 60 }, "0..60 s"},
		{MetricInstanceStartTime, map[string]string{"app": "web", "slot": "1"}, func(v float64) bool {
			return v > float64(time.Now().Add(-time.Minute).Unix()) && v <= float64(time.Now().Unix()+1)
		}, "within the last minute"},
		{MetricDaemonInfo, map[string]string{"version": "test-1"}, func(v float64) bool { return v == 1 }, "1"},
		{"process_resident_memory_bytes", nil, func(v float64) bool { return v > 0 }, "> 0"},
	}
	for _, c := range checks {
		v, ok := value(fams, c.fam, c.labels)
		if !ok || !c.ok(v) {
			t.Errorf("%s%v = %v (found %v), want %s", c.fam, c.labels, v, ok, c.want)
		}
	}
	// A stopped app has no instance series.
	if _, ok := value(fams, MetricInstanceUp, map[string]string{"app": "off"}); ok {
		t.Error("instance series of the stopped app off")
	}
}

// Only loopback addresses are accepted, each refusal saying what to write.
func TestCheckMetricsAddr(t *testing.T) {
	for _, a := range []string{"127.0.0.1:9595", "127.1.2.3:0", "[::1]:9595", "localhost:9595"} {
		if err := CheckMetricsAddr(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{":9595", "0.0.0.0:9595", "10.0.0.1:9595", "example.com:80", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000"} {
		err := CheckMetricsAddr(a)
		if !errors.Is(err, ErrMetricsAddr) || !strings.Contains(err.Error(), "such as 127.0.0.1:9595") {
			t.Errorf("%s: %v", a, err)
		}
	}
	h := HomeAt(filepath.Join(t.TempDir(), "home"))
	if err := New(Config{Home: h, Version: "t", MetricsAddr: "0.0.0.0:9595"}).Run(t.Context()); !errors.Is(err, ErrMetricsAddr) {
		t.Fatalf("Run with 0.0.0.0: %v", err)
	}
}

// CheckMetricsAddr never panics, and what it accepts has a loopback host.
func FuzzCheckMetricsAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9595", "[::1]:0", "localhost:1", ":80", "0.0.0.0:1", "[::ffff:127.0.0.1]:1", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if CheckMetricsAddr(addr) != nil {
			return
		}
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("%q accepted (host %q, %v)", addr, host, err)
		}
	})
}

// countFDs counts another process's open descriptors exactly: as many as
// the entries of /proc/PID/fd.
func TestCountFDs(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		extra []*os.File
		want  int64
	}{{nil, 3}, {[]*os.File{f}, 4}} {
		cmd := exec.Command("sleep", "30")
		cmd.ExtraFiles = c.extra
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The loader opens and closes libraries as sleep starts: count
		// when the directory's entries and countFDs agree.
		dir := fmt.Sprintf("/proc/%d/fd", cmd.Process.Pid)
		var got int64
		testutil.WaitFor(t, "countFDs to agree with the entries of "+dir, func() bool {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", cmd.Process.Pid))
			ents, err := os.ReadDir(dir)
			got = countFDs(cmd.Process.Pid)
			return string(b) == "sleep\n" && err == nil && got == int64(len(ents))
		})
		cmd.Process.Kill()
		cmd.Wait()
		if got < c.want {
			t.Errorf("%d extra files: countFDs = %d, want at least %d", len(c.extra), got, c.want)
		}
	}
	if n := countFDs(1 << 30); n != 0 {
		t.Errorf("no such process: %d", n)
	}
}
