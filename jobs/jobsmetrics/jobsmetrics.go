// Package jobsmetrics exports a jobs.Client's queues as Prometheus
// metrics: a prometheus.Collector to register in any registry, and
// Handler, a /metrics handler of its own.
//
// The collector keeps no state. Each scrape reads the jobs the store
// holds (jobs.Client.List, one pass over every record) and derives from
// them, per queue:
//
//	herd_jobs_enqueued_total{queue}              jobs submitted
//	herd_jobs_completed_total{queue,outcome}     jobs ended: succeeded, failed, cancelled
//	herd_jobs_duration_seconds{queue}            histogram of the last attempt's run time
//	                                             (started to finished) of succeeded and failed jobs
//	herd_jobs_queue_depth{queue}                 jobs waiting to run now
//	herd_jobs_scheduled{queue}                   jobs waiting for their time
//	herd_jobs_in_flight{queue}                   jobs running or between attempts
//
// The counters count the jobs the store keeps: a store that drops old
// jobs makes them go down, which Prometheus's rate() reads as a reset.
// A scrape costs time in proportion to the jobs stored.
package jobsmetrics

import (
	"context"
	"net/http"
	"sort"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metric names.
const (
	MetricEnqueued  = "herd_jobs_enqueued_total"
	MetricCompleted = "herd_jobs_completed_total"
	MetricDuration  = "herd_jobs_duration_seconds"
	MetricDepth     = "herd_jobs_queue_depth"
	MetricScheduled = "herd_jobs_scheduled"
	MetricInFlight  = "herd_jobs_in_flight"
)

// DefaultBuckets are the duration histogram's upper bounds, in seconds:
// from 5 ms to 10 minutes.
var DefaultBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// DefaultTimeout bounds one scrape's read of the jobs.
const DefaultTimeout = 10 * time.Second

// Options configures a Collector. The zero value is a good default.
type Options struct {
	// Buckets are the duration histogram's upper bounds in seconds,
	// increasing; nil means DefaultBuckets.
	Buckets []float64
	// Timeout bounds one scrape's read of the jobs; 0 means
	// DefaultTimeout.
	Timeout time.Duration
}

// Collector is a prometheus.Collector of a jobs.Client's queues. Create it
// with New.
type Collector struct {
	c    *jobs.Client
	o    Options
	enq  *prometheus.Desc
	done *prometheus.Desc
	dur  *prometheus.Desc
	dep  *prometheus.Desc
	sch  *prometheus.Desc
	run  *prometheus.Desc
}

// New returns a Collector of c's queues.
func New(c *jobs.Client, o Options) *Collector {
	if o.Buckets == nil {
		o.Buckets = DefaultBuckets
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	q := []string{"queue"}
	return &Collector{c: c, o: o,
		enq:  prometheus.NewDesc(MetricEnqueued, "Jobs submitted to the queue (of those the store keeps).", q, nil),
		done: prometheus.NewDesc(MetricCompleted, "Jobs of the queue that ended, by outcome: succeeded, failed or cancelled.", []string{"queue", "outcome"}, nil),
		dur:  prometheus.NewDesc(MetricDuration, "Run time of the last attempt of the queue's succeeded and failed jobs.", q, nil),
		dep:  prometheus.NewDesc(MetricDepth, "Jobs of the queue waiting to run now.", q, nil),
		sch:  prometheus.NewDesc(MetricScheduled, "Jobs of the queue waiting for their time.", q, nil),
		run:  prometheus.NewDesc(MetricInFlight, "Jobs of the queue running or between attempts.", q, nil),
	}
}

// Describe sends the descriptions of the metrics.
func (m *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.enq, m.done, m.dur, m.dep, m.sch, m.run} {
		ch <- d
	}
}

// queueStats is what a scrape derives for one queue.
type queueStats struct {
	enqueued                     uint64
	succeeded, failed, cancelled uint64
	depth, scheduled, inFlight   int
	count                        uint64
	sum                          float64
	buckets                      map[float64]uint64
}

// Collect reads every job and sends the metrics of each queue. A read
// that fails is reported to the registry as an invalid metric (the
// scrape then answers 500 with the error).
func (m *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), m.o.Timeout)
	defer cancel()
	page, err := m.c.List(ctx, jobs.Filter{Limit: 1 << 30})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.enq, err)
		return
	}
	byQ := map[string]*queueStats{}
	for _, j := range page.Jobs {
		s := byQ[j.Queue]
		if s == nil {
			s = &queueStats{buckets: map[float64]uint64{}}
			byQ[j.Queue] = s
		}
		s.enqueued++
		switch j.State {
		case jobs.StateQueued:
			s.depth++
		case jobs.StateScheduled:
			s.scheduled++
		case jobs.StateRunning, jobs.StateRetrying:
			s.inFlight++
		case jobs.StateSucceeded:
			s.succeeded++
		case jobs.StateFailed:
			s.failed++
		case jobs.StateCancelled:
			s.cancelled++
		}
		if (j.State == jobs.StateSucceeded || j.State == jobs.StateFailed) && !j.Started.IsZero() && !j.Finished.Before(j.Started) {
			d := j.Finished.Sub(j.Started).Seconds()
			s.count++
			s.sum += d
			for _, b := range m.o.Buckets {
				if d <= b {
					s.buckets[b]++
				}
			}
		}
	}
	names := make([]string, 0, len(byQ))
	for q := range byQ {
		names = append(names, q)
	}
	sort.Strings(names)
	for _, q := range names {
		s := byQ[q]
		ch <- prometheus.MustNewConstMetric(m.enq, prometheus.CounterValue, float64(s.enqueued), q)
		ch <- prometheus.MustNewConstMetric(m.done, prometheus.CounterValue, float64(s.succeeded), q, string(jobs.StateSucceeded))
		ch <- prometheus.MustNewConstMetric(m.done, prometheus.CounterValue, float64(s.failed), q, string(jobs.StateFailed))
		ch <- prometheus.MustNewConstMetric(m.done, prometheus.CounterValue, float64(s.cancelled), q, string(jobs.StateCancelled))
		ch <- prometheus.MustNewConstHistogram(m.dur, s.count, s.sum, s.buckets, q)
		ch <- prometheus.MustNewConstMetric(m.dep, prometheus.GaugeValue, float64(s.depth), q)
		ch <- prometheus.MustNewConstMetric(m.sch, prometheus.GaugeValue, float64(s.scheduled), q)
		ch <- prometheus.MustNewConstMetric(m.run, prometheus.GaugeValue, float64(s.inFlight), q)
	}
}

// Handler returns a /metrics handler of c's queues alone, in its own
// registry.
func Handler(c *jobs.Client, o Options) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(New(c, o))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}
