// Package chaos drives a supervisor of HTTP servers (`herd run` in cluster
// mode) through random faults under load and reports what went wrong: the
// reliability test of `herd run` runs it for seconds, bench/chaosbench for
// minutes.
//
// The model: Run starts the supervisor's command line, waits for its first
// "cluster: ready" line, then sends HTTP load (internal/loadgen, one new
// connection per request) while, at random intervals, it
//
//   - kills an instance with SIGKILL (the program, or the guard process
//     between it and the supervisor when there is one), only while another
//     instance runs;
//   - sends SIGHUP (rolling reload);
//   - sends SIGTTIN or SIGTTOU (one instance more or less, between 1 and
//     Options.MaxInstances).
//
// A request that fails is excused only when it was in flight during a
// SIGKILL, from just before the signal until the killed processes are gone:
// its connection may have been accepted by the killed instance. Every other
// failure counts. At the end Run brings the instance
// count back to its initial value, waits for the tree to settle, compares
// the supervisor's open descriptors with those it had at the start with the
// same count, stops it with SIGTERM and checks that no process of its tree
// is left. Throughout it samples the supervisor's RSS.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/loadgen"
	"github.com/herdrun/herd/internal/procfs"
)

// Default values of Options.
const (
	DefaultInterval = 400 * time.Millisecond
	DefaultConns    = 4
)

// Options configures a run. Command, Addr, Duration and Instances are
// required.
type Options struct {
	// Command is the supervisor's argv, e.g. herd run -i 2 -p PORT -- node
	// app.js. Its output must include "cluster: ready" once the first
	// instances are ready, and a line with "cluster: SIGTTIN:" or
	// "cluster: SIGTTOU:" for each of those signals it handles (Run sends
	// the next one of a kind only after that line).
	Command []string
	// Env is added to this process's environment for the supervisor.
	Env []string
	// Addr is the host:port the instances serve.
	Addr string
	// Duration is how long faults and load go on.
	Duration time.Duration
	// Instances is the instance count the command starts with.
	Instances int
	// MaxInstances bounds scaling up; 0 means Instances+2.
	MaxInstances int
	// Interval is the mean time between two faults; 0 means
	// DefaultInterval.
	Interval time.Duration
	// Conns is the number of concurrent clients; 0 means DefaultConns.
	Conns int
	// MinFaults, if positive, keeps the faults going past Duration until
	// that many have been made, for at most three more Durations, so that
	// a slow machine still sees a run worth checking.
	MinFaults int
	// Seed seeds the choice of faults; 0 picks one (see Report.Seed).
	Seed uint64
	// Output, if set, receives the supervisor's stdout and stderr and a
	// line per fault.
	Output io.Writer
}

// Failure is one failed request that no SIGKILL excuses.
type Failure struct {
	Start, End time.Time
	Err        string
}

// Fault is one fault Run sent.
type Fault struct {
	At   time.Time
	What string // "SIGKILL 1234", "SIGHUP", "SIGTTIN -> 3", ...
}

// Report is the outcome of a run.
type Report struct {
	Seed uint64
	// OK and Failed count the requests; Excused is how many of the failed
	// ones were in flight at a SIGKILL. Unexcused lists the others (at
	// most 20; UnexcusedN counts them all).
	OK, Failed, Excused int64
	Unexcused           []Failure
	UnexcusedN          int64
	// The faults sent: counts, and each with its time.
	Kills, Reloads, ScaleUps, ScaleDowns int
	Faults                               []Fault
	// The supervisor's RSS in bytes: after its first ready line, the
	// highest seen, and at the end.
	RSSStart, RSSMax, RSSEnd int64
	// The supervisor's open descriptors with the initial instance count,
	// at the start and at the end.
	FDsStart, FDsEnd int
	// Leftover lists the processes of the supervisor's tree still running
	// after it exited.
	Leftover []int
	// ExitErr is the supervisor's exit error after SIGTERM (nil for 0).
	ExitErr error
}

// Err returns an error describing what the report shows went wrong: an
// unexcused failure, a leaked descriptor (more than slack), a leftover
// process, RSS above maxRSS (0: not checked), a non-zero exit. It returns
// nil for a clean run.
func (r *Report) Err(fdSlack int, maxRSS int64) error {
	var errs []error
	if r.UnexcusedN > 0 {
		f := r.Unexcused[0]
		var near []string // the faults of the 2s before it, and during it
		for _, e := range r.Faults {
			if !e.At.Before(f.Start.Add(-2*time.Second)) && !e.At.After(f.End) {
				near = append(near, fmt.Sprintf("%s at %+.3fs", e.What, e.At.Sub(f.Start).Seconds()))
			}
		}
		errs = append(errs, fmt.Errorf("chaos: %d failed request(s) not in flight at a SIGKILL; the first took %v: %s; faults near its start: %v",
			r.UnexcusedN, f.End.Sub(f.Start).Round(time.Millisecond), f.Err, near))
	}
	if r.OK == 0 {
		errs = append(errs, errors.New("chaos: no request succeeded"))
	}
	if r.FDsEnd > r.FDsStart+fdSlack {
		errs = append(errs, fmt.Errorf("chaos: the supervisor had %d descriptors at the start, %d at the end", r.FDsStart, r.FDsEnd))
	}
	if len(r.Leftover) > 0 {
		errs = append(errs, fmt.Errorf("chaos: processes left after the supervisor exited: %v", r.Leftover))
	}
	if maxRSS > 0 && r.RSSMax > maxRSS {
		errs = append(errs, fmt.Errorf("chaos: supervisor RSS reached %d MB (bound %d MB)", r.RSSMax>>20, maxRSS>>20))
	}
	if r.ExitErr != nil {
		errs = append(errs, fmt.Errorf("chaos: supervisor exit: %w", r.ExitErr))
	}
	return errors.Join(errs...)
}

// String returns a one-paragraph summary.
func (r *Report) String() string {
	return fmt.Sprintf("seed %d: %d ok, %d failed (%d in flight at a SIGKILL, %d not); %d kills, %d reloads, +%d/-%d scale; supervisor RSS %d/%d/%d KiB (start/max/end), fds %d -> %d, leftover %v, exit %v",
		r.Seed, r.OK, r.Failed, r.Excused, r.UnexcusedN, r.Kills, r.Reloads, r.ScaleUps, r.ScaleDowns,
		r.RSSStart>>10, r.RSSMax>>10, r.RSSEnd>>10, r.FDsStart, r.FDsEnd, r.Leftover, r.ExitErr)
}

// lines collects the supervisor's output and lets Run wait for a line.
type lines struct {
	mu    sync.Mutex
	text  strings.Builder
	out   io.Writer
	added chan struct{}
	began time.Time
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.text.Write(p)
	if l.out != nil {
		l.out.Write(p)
	}
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *lines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.text.String(), s)
}

func (l *lines) logf(format string, args ...any) {
	fmt.Fprintf(l, "chaos %5.2fs: %s\n", time.Since(l.began).Seconds(), fmt.Sprintf(format, args...))
}

// proc names one process: a pid and its start time.
type proc struct {
	pid   int
	start uint64
}

func (p proc) alive() bool {
	st, err := procfs.ReadStat(p.pid)
	return err == nil && st.StartTime == p.start && !st.Zombie()
}

// Run runs the supervisor through faults under load, as Options says, and
// returns the report; the error is for a run that could not be carried
// out (the supervisor did not start or get ready; ctx ended).
func Run(ctx context.Context, o Options) (*Report, error) {
	if len(o.Command) == 0 || o.Addr == "" || o.Instances <= 0 || o.Duration <= 0 {
		return nil, errors.New("chaos: Command, Addr, Instances and Duration are required")
	}
	if o.MaxInstances <= 0 {
		o.MaxInstances = o.Instances + 2
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Conns <= 0 {
		o.Conns = DefaultConns
	}
	rep := &Report{Seed: o.Seed}
	if rep.Seed == 0 {
		rep.Seed = rand.Uint64()
	}
	rng := rand.New(rand.NewPCG(rep.Seed, rep.Seed^0x9e3779b97f4a7c15))

	out := &lines{out: o.Output, added: make(chan struct{}, 1), began: time.Now()}
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("chaos: start: %w", err)
	}
	herd := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	}()
	readyCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for out.count("cluster: ready") == 0 {
		select {
		case <-readyCtx.Done():
			return nil, fmt.Errorf("chaos: no \"cluster: ready\" line: %w\n%s", readyCtx.Err(), out.String())
		case err := <-exited:
			stopped = true
			return nil, fmt.Errorf("chaos: the supervisor exited before it was ready: %v\n%s", err, out.String())
		case <-out.added:
		case <-time.After(50 * time.Millisecond):
		}
	}

	// Everything seen in the tree, for the leftover check, and the RSS.
	seen := map[proc]bool{}
	var seenMu sync.Mutex
	sample := func() {
		seenMu.Lock()
		defer seenMu.Unlock()
		for _, pid := range procfs.Tree(herd)[1:] {
			if st, err := procfs.ReadStat(pid); err == nil {
				seen[proc{pid, st.StartTime}] = true
			}
		}
		if st, err := procfs.ReadStat(herd); err == nil {
			rep.RSSEnd = st.RSS()
			rep.RSSMax = max(rep.RSSMax, rep.RSSEnd)
		}
	}
	if err := settle(ctx, herd, o.Instances); err != nil {
		return nil, err
	}
	rep.FDsStart = countFDs(herd)
	out.logf("settled at %d instance(s); faults for %v", o.Instances, o.Duration)
	sample()
	rep.RSSStart = rep.RSSEnd

	// Load, with every sample classified against the kills.
	var mu sync.Mutex
	var kills []window
	var failed []loadgen.Sample
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan loadgen.Result, 1)
	go func() {
		loadDone <- loadgen.Run(loadCtx, loadgen.Options{Addr: o.Addr, Conns: o.Conns, Timeout: 20 * time.Second,
			Observe: func(s loadgen.Sample) {
				if s.Err != nil {
					mu.Lock()
					failed = append(failed, s)
					mu.Unlock()
				}
			}})
	}()

	count := o.Instances
	end := time.Now().Add(o.Duration)
	hardEnd := end.Add(3 * o.Duration)
	faults := func() int { return rep.Kills + rep.Reloads + rep.ScaleUps + rep.ScaleDowns }
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	next := time.Now().Add(jitter(rng, o.Interval))
	for now := time.Now(); now.Before(end) || (faults() < o.MinFaults && now.Before(hardEnd)); now = time.Now() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case err := <-exited:
			stopped = true
			return nil, fmt.Errorf("chaos: the supervisor exited during the run: %v\n%s", err, out.String())
		case <-tick.C:
		}
		sample()
		if time.Now().Before(next) {
			continue
		}
		next = time.Now().Add(jitter(rng, o.Interval))
		switch n := rng.IntN(10); {
		case n < 4: // SIGKILL of an instance, while another one runs
			inst := instances(herd)
			if len(inst) < 2 {
				continue
			}
			victim := inst[rng.IntN(len(inst))]
			if kids, _ := procfs.Children(victim); len(kids) > 0 && rng.IntN(2) == 0 {
				victim = kids[0] // the program below its guard
			}
			// The window lasts until the victim and its program are
			// gone: a process with SIGKILL pending may still finish an
			// accept it was in.
			doomed := procfs.Tree(victim)
			w := window{from: time.Now()}
			syscall.Kill(victim, syscall.SIGKILL)
			for giveUp := time.Now().Add(2 * time.Second); time.Now().Before(giveUp) && !allGone(doomed); {
				time.Sleep(2 * time.Millisecond)
			}
			w.to = time.Now()
			mu.Lock()
			kills = append(kills, w)
			mu.Unlock()
			rep.Kills++
			rep.Faults = append(rep.Faults, Fault{w.from, fmt.Sprintf("SIGKILL %d", victim)})
			out.logf("SIGKILL %d (gone after %v)", victim, w.to.Sub(w.from).Round(time.Millisecond))
		case n < 6:
			syscall.Kill(herd, syscall.SIGHUP)
			rep.Faults = append(rep.Faults, Fault{time.Now(), "SIGHUP"})
			rep.Reloads++
			out.logf("SIGHUP")
		case n < 8 && count < o.MaxInstances:
			scaleSignal(ctx, out, herd, syscall.SIGTTIN)
			count++
			rep.Faults = append(rep.Faults, Fault{time.Now(), fmt.Sprintf("SIGTTIN -> %d", count)})
			rep.ScaleUps++
			out.logf("SIGTTIN -> %d", count)
		case count > 1:
			scaleSignal(ctx, out, herd, syscall.SIGTTOU)
			count--
			rep.Faults = append(rep.Faults, Fault{time.Now(), fmt.Sprintf("SIGTTOU -> %d", count)})
			rep.ScaleDowns++
			out.logf("SIGTTOU -> %d", count)
		}
	}
	// Back to the initial count, then let the tree settle.
	for ; count < o.Instances; count++ {
		scaleSignal(ctx, out, herd, syscall.SIGTTIN)
	}
	for ; count > o.Instances; count-- {
		scaleSignal(ctx, out, herd, syscall.SIGTTOU)
	}
	out.logf("faults done; back to %d instance(s)", o.Instances)
	if err := settle(ctx, herd, o.Instances); err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out.String())
	}
	out.logf("settled")
	time.Sleep(500 * time.Millisecond) // requests on the settled tree
	stopLoad()
	res := <-loadDone
	sample()
	rep.FDsEnd = countFDs(herd)

	rep.OK, rep.Failed = res.OK, res.Failed
	mu.Lock()
	for _, s := range failed {
		if inFlightAtKill(s, kills) {
			rep.Excused++
			continue
		}
		rep.UnexcusedN++
		if len(rep.Unexcused) < 20 {
			rep.Unexcused = append(rep.Unexcused, Failure{Start: s.Start, End: s.End, Err: fmt.Sprint(s.Err)})
		}
	}
	mu.Unlock()

	syscall.Kill(herd, syscall.SIGTERM)
	select {
	case rep.ExitErr = <-exited:
		stopped = true
		out.logf("stopped: %v", rep.ExitErr)
	case <-time.After(60 * time.Second):
		return nil, errors.New("chaos: the supervisor did not exit within 60s of SIGTERM")
	}
	// Whatever was in the tree must be gone (a moment for the last
	// reaps).
	for giveUp := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		rep.Leftover = rep.Leftover[:0]
		for p := range seen {
			if p.alive() {
				rep.Leftover = append(rep.Leftover, p.pid)
			}
		}
		if len(rep.Leftover) == 0 || time.Now().After(giveUp) {
			break
		}
	}
	if len(rep.Leftover) == 0 {
		rep.Leftover = nil
	}
	return rep, nil
}

// window is the time from just before a SIGKILL until its victims were
// gone.
type window struct{ from, to time.Time }

// inFlightAtKill reports whether s was in flight during a SIGKILL's window.
func inFlightAtKill(s loadgen.Sample, kills []window) bool {
	for _, k := range kills {
		if !s.Start.After(k.to) && !s.End.Before(k.from) {
			return true
		}
	}
	return false
}

// allGone reports whether none of pids runs any more (zombies are gone).
func allGone(pids []int) bool {
	for _, pid := range pids {
		if st, err := procfs.ReadStat(pid); err == nil && !st.Zombie() {
			return false
		}
	}
	return true
}

// jitter returns a duration between d/2 and 3d/2.
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return d/2 + time.Duration(rng.Int64N(int64(d)+1))
}

// instances returns the supervisor's children: its instances, or their
// guards.
func instances(herd int) []int {
	kids, _ := procfs.Children(herd)
	var out []int
	for _, k := range kids {
		if procfs.State(k) != 'Z' {
			out = append(out, k)
		}
	}
	return out
}

// scaleSignal sends sig (SIGTTIN or SIGTTOU) to the supervisor and waits,
// for at most 10s, until its output has one more line that says it handled
// one ("cluster: SIGTTOU: ..."). Two standard signals of one kind that
// arrive before the first is handled are one signal, so sent back to back
// (as when the count goes back to its initial value) the second would be
// lost.
func scaleSignal(ctx context.Context, out *lines, herd int, sig syscall.Signal) {
	key := "cluster: SIGTTIN:"
	if sig == syscall.SIGTTOU {
		key = "cluster: SIGTTOU:"
	}
	before := out.count(key)
	syscall.Kill(herd, sig)
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for out.count(key) <= before {
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			out.logf("no %q line within 10s", key)
			return
		case <-out.added:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// settle waits until the supervisor has n children and its tree and
// descriptors stay the same for a second, 60s at most.
func settle(ctx context.Context, herd, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last string
	var since time.Time
	for {
		tree := procfs.Tree(herd)
		state := fmt.Sprint(len(instances(herd)), tree, countFDs(herd))
		switch {
		case len(instances(herd)) != n:
			since = time.Time{}
		case state != last:
			since = time.Now()
		case !since.IsZero() && time.Since(since) >= time.Second:
			return nil
		}
		last = state
		select {
		case <-ctx.Done():
			return fmt.Errorf("chaos: the supervisor's tree did not settle at %d instance(s) (now %d): %w", n, len(instances(herd)), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// countFDs returns the number of descriptors pid has open.
func countFDs(pid int) int {
	fds, _ := procfs.FDs(pid)
	return len(fds)
}

// String returns the supervisor's output and the fault lines so far, for
// error messages.
func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.text.String()
}
