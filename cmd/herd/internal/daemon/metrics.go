package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsEnv is the environment variable that, like `herd daemon
// --metrics ADDR`, makes the daemon serve Prometheus metrics on ADDR.
const MetricsEnv = "HERD_METRICS"

// MetricsPath is the path of the metrics on the metrics listener.
const MetricsPath = "/metrics"

// ErrMetricsAddr is wrapped by the error for a metrics address that is not
// a loopback host and port.
var ErrMetricsAddr = errors.New("bad metrics address")

// MetricsAddrError reports a metrics address the daemon refuses.
type MetricsAddrError struct {
	Addr   string
	Reason string
}

// Error names the address, why it is refused, and what to write instead.
func (e *MetricsAddrError) Error() string {
	return fmt.Sprintf("metrics address %q: %s: give a loopback host and a port, such as 127.0.0.1:9595 or [::1]:9595 (the metrics have no authentication)", e.Addr, e.Reason)
}

// Unwrap returns ErrMetricsAddr.
func (e *MetricsAddrError) Unwrap() error { return ErrMetricsAddr }

// CheckMetricsAddr checks that addr is a loopback host (127.0.0.0/8, ::1 or
// localhost) and a port (0 picks a free one).
func CheckMetricsAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &MetricsAddrError{Addr: addr, Reason: "not HOST:PORT"}
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return &MetricsAddrError{Addr: addr, Reason: "the port is not a number from 0 to 65535"}
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return &MetricsAddrError{Addr: addr, Reason: "the host is not a loopback address"}
	}
	return nil
}

// Metric names, for the README and tests. Every series of an app has the
// label app; every series of an instance has app and slot (its instance
// number, 0..N-1; not "instance", which Prometheus gives the target).
const (
	MetricAppUp                   = "herd_app_up"
	MetricAppInstances            = "herd_app_instances"
	MetricAppRestarts             = "herd_app_restarts_total"
	MetricAppReloads              = "herd_app_reloads_total"
	MetricInstanceUp              = "herd_instance_up"
	MetricInstanceRestarts        = "herd_instance_restarts_total"
	MetricInstanceCPU             = "herd_instance_cpu_seconds_total"
	MetricInstanceMemory          = "herd_instance_resident_memory_bytes"
	MetricInstanceFDs             = "herd_instance_open_fds"
	MetricInstanceStartTime       = "herd_instance_start_time_seconds"
	MetricDaemonInfo              = "herd_daemon_info"
	MetricDaemonStartTime         = "herd_daemon_start_time_seconds"
	reloadSucceeded, reloadFailed = "succeeded", "failed"
)

// collector reads the daemon's list at each scrape: nothing is sampled
// between scrapes, so an idle daemon pays nothing for its metrics.
type collector struct {
	d                                                *Daemon
	appUp, appInst, appRestarts, appReloads          *prometheus.Desc
	up, restarts, cpu, mem, fds, start, info, dStart *prometheus.Desc
}

func newCollector(d *Daemon) *collector {
	app, inst := []string{"app"}, []string{"app", "slot"}
	return &collector{d: d,
		appUp:       prometheus.NewDesc(MetricAppUp, "1 if the app is online (every instance started), else 0.", app, nil),
		appInst:     prometheus.NewDesc(MetricAppInstances, "Instances the app is set to run.", app, nil),
		appRestarts: prometheus.NewDesc(MetricAppRestarts, "Restarts of the app: by command (restart, reload) and of its instances (crashes, memory limit).", app, nil),
		appReloads:  prometheus.NewDesc(MetricAppReloads, "Rolling reloads of the app by outcome: succeeded, or failed (the old instances kept serving).", []string{"app", "outcome"}, nil),
		up:          prometheus.NewDesc(MetricInstanceUp, "1 if the instance is ready, else 0 (starting or draining).", inst, nil),
		restarts:    prometheus.NewDesc(MetricInstanceRestarts, "Respawns of the instance's slot since the app started.", inst, nil),
		cpu:         prometheus.NewDesc(MetricInstanceCPU, "User and system CPU time of the instance's process tree.", inst, nil),
		mem:         prometheus.NewDesc(MetricInstanceMemory, "Resident memory of the instance's process tree.", inst, nil),
		fds:         prometheus.NewDesc(MetricInstanceFDs, "Open file descriptors of the instance's process tree.", inst, nil),
		start:       prometheus.NewDesc(MetricInstanceStartTime, "Start time of the instance since the Unix epoch.", inst, nil),
		info:        prometheus.NewDesc(MetricDaemonInfo, "Always 1; the label version is the daemon's herd version.", []string{"version"}, nil),
		dStart:      prometheus.NewDesc(MetricDaemonStartTime, "Start time of the daemon since the Unix epoch.", nil, nil),
	}
}

// Describe sends every metric's description.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.appUp, c.appInst, c.appRestarts, c.appReloads, c.up, c.restarts, c.cpu, c.mem, c.fds, c.start, c.info, c.dStart} {
		ch <- d
	}
}

// Collect reads every app and instance now.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	ch <- prometheus.MustNewConstMetric(c.info, prometheus.GaugeValue, 1, d.cfg.Version)
	ch <- prometheus.MustNewConstMetric(c.dStart, prometheus.GaugeValue, float64(d.started.UnixNano())/1e9)
	d.mu.Lock()
	ps := append([]*proc(nil), d.apps...)
	d.mu.Unlock()
	for _, p := range ps {
		p.mu.Lock()
		name, status, r := p.spec.App.Name, p.status, p.r
		want, restarts, ok, failed := p.spec.App.Count(), p.restarts, p.reloadsOK, p.reloadsFailed
		p.mu.Unlock()
		up := 0.0
		if status == StatusOnline {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.appUp, prometheus.GaugeValue, up, name)
		ch <- prometheus.MustNewConstMetric(c.appInst, prometheus.GaugeValue, float64(want), name)
		ch <- prometheus.MustNewConstMetric(c.appReloads, prometheus.CounterValue, float64(ok), name, reloadSucceeded)
		ch <- prometheus.MustNewConstMetric(c.appReloads, prometheus.CounterValue, float64(failed), name, reloadFailed)
		if r != nil && status != StatusStopped {
			ws := oneBySlot(r.Instances())
			for i, u := range p.progs.read(ws, true) {
				w := ws[i]
				slot := strconv.Itoa(w.Slot)
				restarts += w.Restarts
				cpu, rss, fds := u.cpu, u.rss, u.fds
				ready := 0.0
				if w.State == "ready" {
					ready = 1
				}
				ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, ready, name, slot)
				ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(w.Restarts), name, slot)
				ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, cpu.Seconds(), name, slot)
				ch <- prometheus.MustNewConstMetric(c.mem, prometheus.GaugeValue, float64(rss), name, slot)
				ch <- prometheus.MustNewConstMetric(c.fds, prometheus.GaugeValue, float64(fds), name, slot)
				ch <- prometheus.MustNewConstMetric(c.start, prometheus.GaugeValue, float64(w.Started.UnixNano())/1e9, name, slot)
			}
		}
		ch <- prometheus.MustNewConstMetric(c.appRestarts, prometheus.CounterValue, float64(restarts), name)
	}
}

// oneBySlot returns one worker per slot: during a reload a slot has two
// (the new one starting, the old one draining), and a series is per slot.
// The ready one wins, else the newest.
func oneBySlot(ws []cluster.WorkerInfo) []cluster.WorkerInfo {
	var out []cluster.WorkerInfo
	at := map[int]int{}
	for _, w := range ws {
		i, seen := at[w.Slot]
		switch {
		case !seen:
			at[w.Slot] = len(out)
			out = append(out, w)
		case out[i].State != "ready" && (w.State == "ready" || w.Started.After(out[i].Started)):
			out[i] = w
		}
	}
	return out
}

// countFDs returns the number of open descriptors of pid (0 if it is gone):
// the size of /proc/PID/fd, one stat (Linux 6.2 and later), else the
// entries of that directory.
func countFDs(pid int) int64 {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0
	}
	if st.Size > 0 {
		return st.Size
	}
	f, err := os.Open(dir)
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return int64(len(names))
}

// countReload records the outcome of a rolling reload of p.
func (p *proc) countReload(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.reloadsFailed++
	} else {
		p.reloadsOK++
	}
}

// MetricsHandler returns the handler of the daemon's Prometheus metrics:
// the apps and instances (herd_*), and the daemon's own process (process_*)
// and Go runtime (go_*). Every call returns the same handler, so that the
// metrics listener and the dashboard share one registry.
func (d *Daemon) MetricsHandler() http.Handler {
	d.metricsOnce.Do(func() {
		reg := prometheus.NewRegistry()
		reg.MustRegister(newCollector(d), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
		// No gzip: both listeners are loopback only, where compressing
		// costs a scrape more time than the bytes it saves.
		d.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{d}, MaxRequestsInFlight: 4, Timeout: 10 * time.Second,
			DisableCompression: true})
	})
	return d.metrics
}

type slogPrinter struct{ d *Daemon }

func (s slogPrinter) Println(v ...any) { s.d.log.Warn("metrics: " + fmt.Sprint(v...)) }

// serveExtras starts what serves beside the socket: the metrics
// listener (MetricsAddr) and OnServe. The returned stop ends both and
// waits for them; it may be called more than once.
func (d *Daemon) serveExtras(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if d.cfg.MetricsAddr != "" {
		wg.Go(func() { d.serveMetrics(ctx) })
	}
	if d.cfg.OnServe != nil {
		wg.Go(func() { d.cfg.OnServe(ctx) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// serveMetrics serves MetricsHandler on cfg.MetricsAddr until ctx ends.
// While the address is taken (by the daemon this one replaces, during
// herd update), it tries again each second, and logs the first failure.
func (d *Daemon) serveMetrics(ctx context.Context) {
	var ln net.Listener
	for logged := false; ; logged = true {
		var err error
		ln, err = net.Listen("tcp", d.cfg.MetricsAddr)
		if err == nil {
			break
		}
		if !logged {
			d.log.Warn("metrics: " + err.Error() + "; trying again each second")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+MetricsPath, d.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	d.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+MetricsPath)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	<-done
}
