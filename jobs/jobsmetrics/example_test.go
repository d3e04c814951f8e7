package jobsmetrics_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsmetrics"
	"github.com/prometheus/client_golang/prometheus"
)

// Register a Collector of a jobs.Client in a Prometheus registry (or serve
// Handler at /metrics): each scrape reads the queues as they are.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "jobsmetrics-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	c, err := jobs.Open(ctx, jobs.Config{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if err := c.Declare(ctx, "email"); err != nil {
		panic(err)
	}
	if _, err := c.Submit(ctx, "email", map[string]string{"to": "ops@example.com"}, jobs.SubmitOptions{Delay: time.Hour}); err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(jobsmetrics.New(c, jobsmetrics.Options{}))
	fams, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range fams {
		if f.GetName() == jobsmetrics.MetricScheduled || f.GetName() == jobsmetrics.MetricEnqueued {
			m := f.GetMetric()[0]
			fmt.Printf("%s{queue=%q} %v\n", f.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()+m.GetCounter().GetValue())
		}
	}
	// Output:
	// herd_jobs_enqueued_total{queue="default"} 1
	// herd_jobs_scheduled{queue="default"} 1
}
