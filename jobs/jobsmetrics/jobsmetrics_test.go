package jobsmetrics_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsmetrics"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

type args struct {
	Sleep time.Duration `json:"sleep"`
}

// A real jobs store with workers: three jobs succeed, one fails, one is
// cancelled, one waits for its time, one is queued on a queue nobody
// works and one runs; a scrape counts each, times the finished ones in
// the histogram, and promlint finds it clean.
func TestCollector(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	c, err := jobs.Open(ctx, jobs.Config{Dir: t.TempDir()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	release := make(chan struct{})
	running := make(chan struct{}, 1)
	jobs.Register(c, "sleep", func(ctx context.Context, j *jobs.Job[args]) (string, error) {
		select {
		case <-time.After(j.Args.Sleep):
			return "ok", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	jobs.Register(c, "fail", func(ctx context.Context, j *jobs.Job[args]) (string, error) {
		return "", errors.New("on purpose")
	})
	jobs.Register(c, "hold", func(ctx context.Context, j *jobs.Job[args]) (string, error) {
		running <- struct{}{}
		select {
		case <-release:
			return "released", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	worked := make(chan error, 1)
	go func() {
		worked <- c.Work(ctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{"default": {Concurrency: 4}}, ShutdownTimeout: 5 * time.Second})
	}()
	srv := httptest.NewServer(jobsmetrics.Handler(c, jobsmetrics.Options{}))
	defer func() {
		srv.Close()
		close(release)
		cancel()
		if err := <-worked; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Work: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()

	var ids []string
	submit := func(kind string, a args, o jobs.SubmitOptions) string {
		id, err := c.Submit(ctx, kind, a, o)
		if err != nil {
			t.Fatalf("submit %s: %v", kind, err)
		}
		ids = append(ids, id)
		return id
	}
	for range 3 {
		submit("sleep", args{Sleep: 30 * time.Millisecond}, jobs.SubmitOptions{})
	}
	submit("fail", args{}, jobs.SubmitOptions{MaxAttempts: 1})
	submit("sleep", args{}, jobs.SubmitOptions{Delay: time.Hour})
	toCancel := submit("sleep", args{}, jobs.SubmitOptions{Delay: time.Hour})
	if err := c.Cancel(ctx, toCancel); err != nil {
		t.Fatal(err)
	}
	submit("sleep", args{}, jobs.SubmitOptions{Queue: "idle"})
	for _, id := range ids[:4] {
		wctx, wcancel := context.WithTimeout(ctx, 60*time.Second)
		_, err := c.Wait(wctx, id)
		wcancel()
		if err != nil {
			t.Fatalf("wait %s: %v", id, err)
		}
	}
	hold := submit("hold", args{}, jobs.SubmitOptions{})
	select {
	case <-running:
	case <-time.After(60 * time.Second):
		t.Fatal("the hold job did not start")
	}
	// The handler runs; its record says so a moment later.
	testutil.WaitFor(t, "the hold job's record to say running", func() bool {
		i, err := c.Get(ctx, hold)
		return err == nil && i.State == jobs.StateRunning
	})

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d\n%s", resp.StatusCode, b)
	}
	probs, err := promlint.New(strings.NewReader(string(b))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	get := func(fam string, labels ...string) *dto.Metric {
		t.Helper()
	next:
		for _, m := range fams[fam].GetMetric() {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			return m
		}
		t.Fatalf("no %s%v in:\n%s", fam, labels, b)
		return nil
	}
	for _, c := range []struct {
		fam    string
		labels []string
		want   float64
	}{
		{jobsmetrics.MetricEnqueued, []string{"queue", "default"}, 7},
		{jobsmetrics.MetricEnqueued, []string{"queue", "idle"}, 1},
		{jobsmetrics.MetricCompleted, []string{"queue", "default", "outcome", "succeeded"}, 3},
		{jobsmetrics.MetricCompleted, []string{"queue", "default", "outcome", "failed"}, 1},
		{jobsmetrics.MetricCompleted, []string{"queue", "default", "outcome", "cancelled"}, 1},
		{jobsmetrics.MetricScheduled, []string{"queue", "default"}, 1},
		{jobsmetrics.MetricDepth, []string{"queue", "idle"}, 1},
		{jobsmetrics.MetricDepth, []string{"queue", "default"}, 0},
		{jobsmetrics.MetricInFlight, []string{"queue", "default"}, 1},
	} {
		m := get(c.fam, c.labels...)
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		if v != c.want {
			t.Errorf("%s%v = %v, want %v", c.fam, c.labels, v, c.want)
		}
	}
	h := get(jobsmetrics.MetricDuration, "queue", "default").GetHistogram()
	if h.GetSampleCount() != 4 || h.GetSampleSum() < 0.09 || h.GetSampleSum() > 30 {
		t.Errorf("duration: %d samples, sum %v; want 4 (3 succeeded + 1 failed), sum >= 0.09 s", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, bk := range h.GetBucket() {
		if bk.GetUpperBound() < 0.025 && bk.GetCumulativeCount() > 1 {
			t.Errorf("bucket <= %v s holds %d jobs; the three 30 ms sleeps belong above it", bk.GetUpperBound(), bk.GetCumulativeCount())
		}
	}
}
