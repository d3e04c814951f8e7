// Package failover is the failover test and benchmark of jobs on a
// three-node JetStream cluster: nodes and workers run as separate processes
// (this binary, re-executed), so that a SIGKILL is real.
//
// Run starts three nodes (jobsnode) on loopback, two worker processes
// connected to n1 and n2, and a submitter connected to n3 in the calling
// process. It submits Config.Jobs jobs, waits for every one, and partway
// through (Config.KillAt of the jobs finished) SIGKILLs the node that leads
// the work stream, a follower of it, or a worker process; a killed node is
// started again on the same ports and store once completions resume. The
// handlers log each start and end to a file per worker, from which Run
// counts runs, duplicates and the jobs in flight at the kill.
//
// A program that calls Run must call Dispatch first thing in main (or
// TestMain): in a re-executed process it runs the node or worker role and
// exits.
package failover

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsnode"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// Kill says what Run kills partway through.
type Kill int

// What to kill.
const (
	KillLeader   Kill = iota // the node that leads the work stream
	KillFollower             // a node that holds a replica of it, not the leader
	KillWorker               // worker process 1 (connected to n1); not restarted
	// KillConsumerLeader kills the node that leads the consumer of the
	// default queue's normal-priority jobs (its own raft group, which may
	// sit on another node than the stream's leader).
	KillConsumerLeader
)

func (k Kill) String() string {
	return [...]string{"leader", "follower", "worker", "consumer-leader"}[k]
}

// Defaults for a zero Config field.
const (
	DefaultConcurrency = 16
	DefaultWork        = 10 * time.Millisecond
	DefaultAckWait     = 2 * time.Second
	DefaultKillAt      = 0.3
	// killSettle is how long after a kill the jobs handed out before it
	// may still reach a handler and count as in flight at the kill; well
	// under DefaultAckWait, so no redelivery is counted as one.
	killSettle = 500 * time.Millisecond
	// stallAfter is how long without a completion, once jobs are
	// submitted, before Run logs what it can see of the stall (diagnose);
	// it goes on waiting.
	stallAfter = 30 * time.Second
	stderrMax  = 1 << 20 // what Run keeps of a process's stderr
	prefix     = "fo"
	kind       = "fo"
	batch      = 50
	levels     = 4 // priorities, and so consumers, of a queue
)

// Config is one run.
type Config struct {
	Jobs int
	Kill Kill
	// Concurrency is each worker process's concurrency.
	Concurrency int
	// Work is how long each handler runs.
	Work time.Duration
	// AckWait is jobs.Config.AckWait of every client: how long a job whose
	// acknowledgement was lost waits before it is delivered again.
	AckWait time.Duration
	// KillAt is the fraction of finished jobs at which the kill happens.
	KillAt float64
	// Dir holds the stores and logs; required.
	Dir string
	// Log, when set, receives a line per event.
	Log io.Writer
}

// Result is what a run measured.
type Result struct {
	Jobs, Succeeded int
	Killed          string // what was killed, e.g. "n2 (leader of fo_work)"
	Runs            int    // handler starts over all jobs
	WorkerRuns      [2]int // handler starts per worker process
	Duplicates      int    // handler starts beyond one per job
	InFlightAtKill  int    // jobs started by a handler and not yet seen finished by Wait, counted just after the kill (of the killed worker, for KillWorker)
	LongestGap      time.Duration
	Recovery        time.Duration // the longest wait for a completion within 30 s after the kill, counted from the kill
	Elected         time.Duration // kill -> the stream's new leader seen (KillLeader)
	// VictimLed lists the raft groups (streams and consumers) the killed
	// node led just before the kill: each waits for an election.
	VictimLed     []string
	SubmitRetries int
	WaitRetries   int
	Elapsed       time.Duration // first submit -> last completion
}

func (r Result) String() string {
	led := ""
	if len(r.VictimLed) > 0 {
		led = "; the killed node led " + strings.Join(r.VictimLed, ", ")
	}
	return fmt.Sprintf("kill %s: %d/%d succeeded in %v; runs %d (w1 %d, w2 %d), duplicates %d, in flight at the kill %d; longest completion gap %v, longest wait for a completion after the kill %v, new leader after %v; submit retries %d, wait retries %d%s",
		r.Killed, r.Succeeded, r.Jobs, r.Elapsed.Round(time.Millisecond), r.Runs, r.WorkerRuns[0], r.WorkerRuns[1], r.Duplicates, r.InFlightAtKill,
		r.LongestGap.Round(time.Millisecond), r.Recovery.Round(time.Millisecond), r.Elected.Round(time.Millisecond), r.SubmitRetries, r.WaitRetries, led)
}

const roleEnv = "HERD_FAILOVER_ROLE"

// Dispatch runs the node or worker role and exits when this process was
// started by Run as one; otherwise it returns at once.
func Dispatch() {
	switch os.Getenv(roleEnv) {
	case "node":
		os.Exit(nodeMain())
	case "worker":
		os.Exit(workerMain())
	}
}

func nodeMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// A node started again recovers its store before it takes clients:
	// on a busy machine that takes longer than jobsnode's default 30 s.
	sctx, scancel := context.WithTimeout(ctx, 2*time.Minute)
	defer scancel()
	n, err := jobsnode.Start(sctx, jobsnode.Config{
		Name: os.Getenv("FO_NAME"), StoreDir: os.Getenv("FO_STORE"),
		Listen: os.Getenv("FO_LISTEN"), Cluster: os.Getenv("FO_CLUSTER"),
		Routes: strings.Split(os.Getenv("FO_ROUTES"), ","),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Close()
	if err := n.Ready(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	<-ctx.Done()
	return 0
}

func workerMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// SIGUSR1 writes every goroutine's stack to stderr (Run's diagnose).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for {
			select {
			case <-usr1:
				fmt.Fprintln(os.Stderr, "goroutines at", time.Now().Format("15:04:05.000"))
				_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			case <-ctx.Done():
				return
			}
		}
	}()
	ackWait, _ := time.ParseDuration(os.Getenv("FO_ACKWAIT"))
	work, _ := time.ParseDuration(os.Getenv("FO_WORK"))
	conc, _ := strconv.Atoi(os.Getenv("FO_CONC"))
	f, err := os.OpenFile(os.Getenv("FO_LOG"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	c, err := open(ctx, jobs.Config{URLs: []string{os.Getenv("FO_URL")}, Replicas: 3, Prefix: prefix, AckWait: ackWait, WorkerName: os.Getenv("FO_NAME")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	jobs.Register(c, kind, func(ctx context.Context, j *jobs.Job[int]) (int, error) {
		// One write(2) per line with O_APPEND: lines never interleave.
		_, _ = f.WriteString("s " + j.ID + "\n")
		select {
		case <-time.After(work):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		_, _ = f.WriteString("e " + j.ID + "\n")
		return j.Args, nil
	})
	fmt.Println("ready")
	if err := c.Work(ctx, jobs.WorkOptions{Queues: map[string]jobs.QueueConfig{jobs.DefaultQueue: {Concurrency: conc}}, ShutdownTimeout: 5 * time.Second}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// open opens cfg, each try bounded by 10 s, for up to two minutes: a
// JetStream API request that reaches a node still catching up with the
// cluster can go unanswered.
func open(ctx context.Context, cfg jobs.Config) (*jobs.Client, error) {
	end := time.Now().Add(2 * time.Minute)
	for {
		octx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := jobs.Open(octx, cfg)
		cancel()
		if err == nil || time.Now().After(end) || ctx.Err() != nil {
			return c, err
		}
		fmt.Fprintln(os.Stderr, "open, trying again:", err)
	}
}

// proc is a process Run started.
type proc struct {
	cmd    *exec.Cmd
	ready  chan struct{}
	done   chan struct{}
	err    *strings.Builder
	mu     sync.Mutex
	ending atomic.Bool // Run kills or stops it: its exit is expected
}

func start(ctx context.Context, env []string) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{}), err: &strings.Builder{}}
	cmd.Stderr = &lockedWriter{p: p}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		once := false
		for sc.Scan() {
			if sc.Text() == "ready" && !once {
				once = true
				close(p.ready)
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-p.ready:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("process %v exited before it was ready: %s", env, p.stderr())
	case <-ctx.Done():
		p.kill()
		return nil, fmt.Errorf("process %v not ready: %w", env, ctx.Err())
	}
}

type lockedWriter struct{ p *proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.err.Len() < stderrMax {
		w.p.err.Write(b)
	}
	return len(b), nil
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err.String()
}

// kill SIGKILLs the process by its PID and waits until it is reaped.
func (p *proc) kill() {
	p.ending.Store(true)
	select {
	case <-p.done: // reaped: its PID may be another process's now
		return
	default:
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// stop SIGTERMs the process and waits up to d, then kills it.
func (p *proc) stop(d time.Duration) {
	p.ending.Store(true)
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(d):
		p.kill()
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Run runs one failover scenario; ctx bounds it. It returns an error when a
// process fails to start or a job is lost; Result says what it measured.
func Run(ctx context.Context, cfg Config) (res Result, err error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Work <= 0 {
		cfg.Work = DefaultWork
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	if cfg.KillAt <= 0 {
		cfg.KillAt = DefaultKillAt
	}
	// A node or worker that exits unless Run killed or stopped it ends
	// the run at once, with its stderr as the cause: nothing else would
	// take its part, and the jobs would wait until ctx ends.
	ctx, cancelRun := context.WithCancelCause(ctx)
	var watches sync.WaitGroup
	defer func() { cancelRun(nil); watches.Wait() }()
	watch := func(p *proc, name string) {
		watches.Add(1)
		go func() {
			defer watches.Done()
			select {
			case <-p.done:
				if !p.ending.Load() {
					cancelRun(fmt.Errorf("%s exited (%v); stderr: %s", name, p.cmd.ProcessState, tail(p.stderr(), 2000)))
				}
			case <-ctx.Done():
			}
		}()
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
		}
	}
	res.Jobs = cfg.Jobs

	// Three nodes.
	var listen, cluster [3]string
	for i := range 3 {
		if listen[i], err = freeAddr(); err != nil {
			return res, err
		}
		if cluster[i], err = freeAddr(); err != nil {
			return res, err
		}
	}
	nodeEnv := func(i int) []string {
		return []string{roleEnv + "=node", "FO_NAME=n" + strconv.Itoa(i+1), "FO_STORE=" + filepath.Join(cfg.Dir, "n"+strconv.Itoa(i+1)),
			"FO_LISTEN=" + listen[i], "FO_CLUSTER=" + cluster[i], "FO_ROUTES=" + strings.Join(cluster[:], ",")}
	}
	var mu sync.Mutex // guards nodes and workers
	var nodes [3]*proc
	var workers [2]*proc
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range workers {
			if w != nil {
				w.stop(10 * time.Second)
			}
		}
		for _, n := range nodes {
			if n != nil {
				n.stop(10 * time.Second)
			}
		}
	}()
	{
		type started struct {
			i   int
			p   *proc
			err error
		}
		ch := make(chan started, 3)
		for i := range 3 {
			go func() {
				p, err := start(ctx, nodeEnv(i))
				ch <- started{i, p, err}
			}()
		}
		for range 3 {
			s := <-ch
			if s.err != nil {
				err = errors.Join(err, s.err)
				continue
			}
			nodes[s.i] = s.p
			watch(s.p, "node n"+strconv.Itoa(s.i+1))
		}
		if err != nil {
			return res, err
		}
	}
	url := func(i int) string { return "nats://" + listen[i] }
	logf("nodes ready: %s %s %s", url(0), url(1), url(2))

	// The submitter on n3; it makes the streams.
	sub, err := open(ctx, jobs.Config{URLs: []string{url(2)}, Replicas: 3, Prefix: prefix, AckWait: cfg.AckWait, WorkerName: "submitter"})
	if err != nil {
		return res, err
	}
	defer sub.Close()
	if err := sub.Declare(ctx, kind); err != nil {
		return res, err
	}
	nc, err := nats.Connect(url(2), nats.MaxReconnects(-1), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	if err != nil {
		return res, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return res, err
	}
	// With a log: every raft group's leader election (from the
	// advisories), timed from the kill, to tell where a recovery's time
	// goes.
	var killNano atomic.Int64
	if cfg.Log != nil {
		asub, err := nc.Subscribe("$JS.EVENT.ADVISORY.*.LEADER_ELECTED.>", func(m *nats.Msg) {
			var a struct {
				Stream   string `json:"stream"`
				Consumer string `json:"consumer"`
				Leader   string `json:"leader"`
			}
			if json.Unmarshal(m.Data, &a) != nil {
				return
			}
			group := "stream " + a.Stream
			if a.Consumer != "" {
				group = "consumer " + a.Stream + "/" + a.Consumer
			}
			if k := killNano.Load(); k != 0 {
				logf("advisory: %s leads %s, %v after the kill", a.Leader, group, time.Since(time.Unix(0, k)).Round(time.Millisecond))
			}
		})
		if err != nil {
			return res, err
		}
		defer func() { _ = asub.Unsubscribe() }()
	}

	// Two workers, on n1 and n2.
	logs := []string{filepath.Join(cfg.Dir, "w1.log"), filepath.Join(cfg.Dir, "w2.log")}
	for i := range 2 {
		p, err := start(ctx, []string{roleEnv + "=worker", "FO_NAME=w" + strconv.Itoa(i+1), "FO_URL=" + url(i), "FO_LOG=" + logs[i],
			"FO_ACKWAIT=" + cfg.AckWait.String(), "FO_WORK=" + cfg.Work.String(), "FO_CONC=" + strconv.Itoa(cfg.Concurrency)})
		if err != nil {
			return res, err
		}
		mu.Lock()
		workers[i] = p
		mu.Unlock()
		watch(p, "worker w"+strconv.Itoa(i+1))
	}
	// Ready means fetching: each idle worker keeps a waiting pull request
	// open on every priority's consumer, so wait for two on each (the
	// workers make the consumers; on a busy cluster that takes a while).
	if err := fetching(ctx, js, 2); err != nil {
		return res, fmt.Errorf("workers: %w", err)
	}
	logf("workers ready")

	// Completions, from Wait.
	var cmu sync.Mutex
	var times []time.Time
	done := map[string]bool{} // jobs whose Wait returned
	completed := make(chan struct{}, cfg.Jobs)
	var failed []string
	var waits sync.WaitGroup
	waitRetries := 0
	wait := func(id string) {
		defer waits.Done()
		for ctx.Err() == nil {
			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			info, err := sub.Wait(wctx, id)
			wcancel()
			if err == nil {
				cmu.Lock()
				times = append(times, time.Now())
				done[id] = true
				if info.State != jobs.StateSucceeded {
					failed = append(failed, id+" "+string(info.State)+" "+info.Error)
				}
				cmu.Unlock()
				completed <- struct{}{}
				return
			}
			cmu.Lock()
			waitRetries++
			first := waitRetries <= 3
			cmu.Unlock()
			if first {
				logf("Wait %s: %v (trying again)", id, err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}

	var submitted []string // guarded by cmu

	// diagnose logs what can be seen of a run that is stuck: the work
	// stream and its consumers as the cluster reports them, the stored
	// state of the first jobs not finished and their handlers' log lines,
	// and each live worker's stderr with its goroutines (SIGUSR1).
	diagnose := func(why string) {
		if cfg.Log == nil {
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, "diagnose: %s\n", why)
		cmu.Lock()
		finished := len(times)
		var stuck []string
		for _, id := range submitted {
			if !done[id] {
				stuck = append(stuck, id)
			}
		}
		n := len(submitted)
		cmu.Unlock()
		fmt.Fprintf(&b, "  %d of %d submitted jobs finished, %d not\n", finished, n, len(stuck))
		dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer dcancel()
		if s, err := js.Stream(dctx, prefix+"_work"); err != nil {
			fmt.Fprintf(&b, "  stream %s_work: %v\n", prefix, err)
		} else {
			si := s.CachedInfo()
			fmt.Fprintf(&b, "  stream %s: msgs %d, seq %d..%d, consumers %d, cluster %s\n", si.Config.Name, si.State.Msgs, si.State.FirstSeq, si.State.LastSeq, si.State.Consumers, clusterString(si.Cluster))
			for l := 0; ; l++ {
				name := "w_default_" + strconv.Itoa(l)
				cons, err := s.Consumer(dctx, name)
				if errors.Is(err, jetstream.ErrConsumerNotFound) {
					break
				}
				if err != nil {
					fmt.Fprintf(&b, "  consumer %s: %v\n", name, err)
					break
				}
				ci := cons.CachedInfo()
				fmt.Fprintf(&b, "  consumer %s: num_pending %d, num_ack_pending %d, num_redelivered %d, num_waiting %d, delivered %d/%d, ack floor %d/%d, cluster %s\n",
					name, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered.Consumer, ci.Delivered.Stream, ci.AckFloor.Consumer, ci.AckFloor.Stream, clusterString(ci.Cluster))
			}
		}
		for i, id := range stuck[:min(len(stuck), 3)] {
			info, err := sub.Get(dctx, id)
			fmt.Fprintf(&b, "  not finished %d: %s: state %q attempt %d worker %q started %v error %q (get: %v);", i, id, info.State, info.Attempt, info.Worker, info.Started.Format("15:04:05.000"), info.Error, err)
			for j, f := range logs {
				st, en := readLog(f)
				fmt.Fprintf(&b, " w%d: %d starts %d ends", j+1, st[id], en[id])
			}
			b.WriteString("\n")
		}
		mu.Lock()
		live := workers
		mu.Unlock()
		for i, w := range live {
			if w == nil {
				fmt.Fprintf(&b, "  worker w%d: gone\n", i+1)
				continue
			}
			select {
			case <-w.done:
				fmt.Fprintf(&b, "  worker w%d exited; stderr:\n%s\n", i+1, w.stderr())
				continue
			default:
			}
			// Its goroutines: wait (up to 10 s) until the dump stops growing.
			_ = syscall.Kill(w.cmd.Process.Pid, syscall.SIGUSR1)
			last, end := -1, time.Now().Add(10*time.Second)
			for time.Now().Before(end) {
				time.Sleep(200 * time.Millisecond)
				e := w.stderr()
				if len(e) == last && strings.Contains(e, "goroutines at") {
					break
				}
				last = len(e)
			}
			fmt.Fprintf(&b, "  worker w%d stderr:\n%s\n", i+1, w.stderr())
		}
		logf("%s", b.String())
	}

	// The kill, once KillAt of the jobs finished.
	killDone := make(chan error, 1)
	var killTime time.Time
	go func() {
		killDone <- func() error {
			need := int(cfg.KillAt * float64(cfg.Jobs))
			for n := 0; n < need; n++ {
				select {
				case <-completed:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
			}
			// In flight: started by a handler, and not yet seen finished by
			// Wait (a job whose handler returned but whose outcome is not
			// stored yet is in flight too).
			// inFlight adds to seen every job the handlers of files have
			// started and Wait has not seen finish, and returns how many
			// it added.
			inFlight := func(seen map[string]bool, files ...string) int {
				n := 0
				cmu.Lock()
				defer cmu.Unlock()
				for _, f := range files {
					s, _ := readLog(f)
					for id := range s {
						if !done[id] && !seen[id] {
							seen[id] = true
							n++
						}
					}
				}
				return n
			}
			inflight := func(files ...string) int { return inFlight(map[string]bool{}, files...) }
			// atKill counts the jobs in flight at a kill: those running
			// just before it (seen, filled by inFlight then; a job that
			// ends between that look and the kill only widens the
			// allowance), those running just after it, and those a dead
			// node had handed out that reach a handler within killSettle
			// after it. No newly elected leader hands out jobs that soon.
			atKill := func(seen map[string]bool, before int, files ...string) int {
				n := before + inFlight(seen, files...)
				time.Sleep(killSettle)
				return n + inFlight(seen, files...)
			}
			// Then wait (up to 5 s) until jobs are in flight, so that the
			// kill catches some.
			busy := time.Now().Add(5 * time.Second)
			for time.Now().Before(busy) && inflight(logs[0]) == 0 && ctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			if inflight(logs[0]) == 0 {
				diagnose("worker w1 has had no job in flight for 5 s")
			}
			if cfg.Kill == KillWorker {
				seen := map[string]bool{}
				before := inFlight(seen, logs[0])
				killTime = time.Now()
				mu.Lock()
				workers[0].kill()
				mu.Unlock()
				res.InFlightAtKill = atKill(seen, before, logs[0])
				res.Killed = "worker w1"
				logf("killed worker w1 with %d jobs in flight", res.InFlightAtKill)
				return nil
			}
			s, err := js.Stream(ctx, prefix+"_work")
			if err != nil {
				return err
			}
			// The raft group to hit: the work stream, or the consumer of
			// normal-priority jobs of the default queue.
			group := "stream " + prefix + "_work"
			if cfg.Kill == KillConsumerLeader {
				group = "consumer " + prefix + "_work/w_default_1"
			}
			clusterOf := func(c context.Context) (*jetstream.ClusterInfo, error) {
				if cfg.Kill == KillConsumerLeader {
					cons, err := s.Consumer(c, "w_default_1")
					if err != nil {
						return nil, err
					}
					ci, err := cons.Info(c)
					if err != nil {
						return nil, err
					}
					return ci.Cluster, nil
				}
				si, err := s.Info(c)
				if err != nil {
					return nil, err
				}
				return si.Cluster, nil
			}
			cl, err := clusterOf(ctx)
			if err != nil {
				return err
			}
			if cl == nil || cl.Leader == "" {
				return fmt.Errorf("%s has no leader: %+v", group, cl)
			}
			victim := cl.Leader
			res.Killed = victim + " (leader of " + group + ")"
			if cfg.Kill == KillFollower {
				if len(cl.Replicas) == 0 {
					return fmt.Errorf("%s has no followers", group)
				}
				victim = cl.Replicas[0].Name
				res.Killed = victim + " (follower of " + group + ", led by " + cl.Leader + ")"
			}
			i, err := strconv.Atoi(strings.TrimPrefix(victim, "n"))
			if err != nil || i < 1 || i > 3 {
				return fmt.Errorf("unknown node %q", victim)
			}
			i--
			res.VictimLed = ledBy(ctx, js, victim)
			seen := map[string]bool{}
			before := inFlight(seen, logs...)
			killTime = time.Now()
			killNano.Store(killTime.UnixNano())
			mu.Lock()
			nodes[i].kill()
			nodes[i] = nil
			mu.Unlock()
			// Counted once the node is dead, and again a moment later: a
			// job the node had delivered may reach its handler after the
			// kill, and is in flight too.
			res.InFlightAtKill = atKill(seen, before, logs...)
			logf("killed %s with %d jobs in flight", res.Killed, res.InFlightAtKill)
			// Restart it once the stream has a leader again (a follower:
			// after a second).
			if cfg.Kill != KillFollower {
				elect := time.Now().Add(60 * time.Second)
				for {
					ictx, icancel := context.WithTimeout(ctx, time.Second)
					cl, err := clusterOf(ictx)
					icancel()
					if err == nil && cl != nil && cl.Leader != "" && cl.Leader != victim {
						res.Elected = time.Since(killTime)
						logf("%s leads %s after %v", cl.Leader, group, res.Elected.Round(time.Millisecond))
						break
					}
					if time.Now().After(elect) || ctx.Err() != nil {
						return fmt.Errorf("no new leader of %s within 60 s of the kill", group)
					}
					time.Sleep(50 * time.Millisecond)
				}
			} else {
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			p, err := start(ctx, nodeEnv(i))
			if err != nil {
				return fmt.Errorf("restart %s: %w", victim, err)
			}
			mu.Lock()
			nodes[i] = p
			mu.Unlock()
			watch(p, "node "+victim)
			logf("restarted %s", victim)
			return nil
		}()
	}()

	// Submit in batches, each retried with the same IDs until it is stored.
	t0 := time.Now()
	submitRetries := 0
	for sent := 0; sent < cfg.Jobs; {
		n := min(batch, cfg.Jobs-sent)
		reqs := make([]jobs.Request, n)
		for i := range reqs {
			reqs[i] = jobs.Request{Kind: kind, Args: sent + i, Options: jobs.SubmitOptions{ID: ulid.Make().String(), MaxAttempts: 10}}
		}
		for {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			st := time.Now()
			ids, err := sub.SubmitMany(actx, reqs)
			acancel()
			if k := killNano.Load(); err == nil && k != 0 && time.Since(st) > time.Second {
				logf("submit of jobs %d to %d took %v (ended %v after the kill)", sent, sent+n-1, time.Since(st).Round(time.Millisecond), time.Since(time.Unix(0, k)).Round(time.Millisecond))
			}
			if err == nil {
				cmu.Lock()
				submitted = append(submitted, ids...)
				cmu.Unlock()
				waits.Add(len(ids))
				for _, id := range ids {
					go wait(id)
				}
				break
			}
			if ctx.Err() != nil {
				waits.Wait()
				return res, fmt.Errorf("submit: %w (last error %v)", context.Cause(ctx), err)
			}
			submitRetries++
			if k := killNano.Load(); k != 0 {
				logf("submit of jobs %d to %d: %v (%v after the kill)", sent, sent+n-1, err, time.Since(time.Unix(0, k)).Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
		sent += n
	}
	if len(killDone) > 0 { // the kill failed early: do not wait for the jobs
		if err := <-killDone; err != nil {
			return res, fmt.Errorf("kill: %w", err)
		}
		killDone <- nil
	}
	logf("submitted %d jobs in %v (%d retries)", cfg.Jobs, time.Since(t0).Round(time.Millisecond), submitRetries)
	// A stall watch: no completion for stallAfter gets a diagnose (once
	// per stall).
	allDone := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, dumped := time.Now(), false
		seen := 0
		for {
			select {
			case <-allDone:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cmu.Lock()
			n := len(times)
			cmu.Unlock()
			if n != seen {
				seen, last, dumped = n, time.Now(), false
				continue
			}
			if !dumped && time.Since(last) > stallAfter {
				dumped = true
				diagnose(fmt.Sprintf("no job finished for %v", stallAfter))
			}
		}
	}()
	waits.Wait()
	close(allDone)
	<-watched
	res.SubmitRetries = submitRetries
	res.WaitRetries = waitRetries
	res.Elapsed = time.Since(t0)
	if ctx.Err() != nil {
		diagnose(fmt.Sprintf("waiting for the jobs: %v", context.Cause(ctx)))
		return res, fmt.Errorf("waiting for the jobs: %w (%d of %d finished)", context.Cause(ctx), len(times), cfg.Jobs)
	}
	if err := <-killDone; err != nil {
		return res, fmt.Errorf("kill: %w", err)
	}
	res.Succeeded = len(times) - len(failed)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(times); i++ {
		res.LongestGap = max(res.LongestGap, times[i].Sub(times[i-1]))
	}
	if !killTime.IsZero() {
		prev := killTime
		var from, to time.Time
		for _, t := range times {
			if t.After(killTime) && t.Before(killTime.Add(30*time.Second)) {
				if t.Sub(prev) > res.Recovery {
					res.Recovery, from, to = t.Sub(prev), prev, t
				}
				prev = t
			}
		}
		if !to.IsZero() {
			logf("longest wait for a completion after the kill: from %v to %v after it", from.Sub(killTime).Round(time.Millisecond), to.Sub(killTime).Round(time.Millisecond))
		}
	}
	// Runs and duplicates from the handlers' logs.
	mu.Lock()
	for _, w := range workers {
		if w != nil {
			w.stop(10 * time.Second)
		}
	}
	workers = [2]*proc{}
	mu.Unlock()
	starts := map[string]int{}
	for i, f := range logs {
		s, _ := readLog(f)
		for id, k := range s {
			starts[id] += k
			res.WorkerRuns[i] += k
		}
	}
	for _, k := range starts {
		res.Runs += k
		res.Duplicates += k - 1
	}
	if len(failed) > 0 {
		return res, fmt.Errorf("%d jobs did not succeed, first: %s", len(failed), failed[0])
	}
	if len(starts) != cfg.Jobs {
		return res, fmt.Errorf("handlers ran %d distinct jobs, want %d", len(starts), cfg.Jobs)
	}
	return res, nil
}

// ledBy lists the streams and consumers whose raft group node leads.
func ledBy(ctx context.Context, js jetstream.JetStream, node string) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var led []string
	streams := js.ListStreams(ctx)
	for si := range streams.Info() {
		if si.Cluster != nil && si.Cluster.Leader == node {
			led = append(led, "stream "+si.Config.Name)
		}
		s, err := js.Stream(ctx, si.Config.Name)
		if err != nil {
			continue
		}
		cons := s.ListConsumers(ctx)
		for ci := range cons.Info() {
			if ci.Cluster != nil && ci.Cluster.Leader == node {
				led = append(led, "consumer "+si.Config.Name+"/"+ci.Name)
			}
		}
	}
	slices.Sort(led)
	return led
}

// fetching waits until each consumer of the default queue has at least n
// waiting pull requests: n idle workers are taking jobs.
func fetching(ctx context.Context, js jetstream.JetStream, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	last := "no stream"
	for {
		if ok, state := waitingOn(ctx, js, n); ok {
			return nil
		} else if state != "" {
			last = state
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not %d waiting pull requests on each consumer: %w (last seen: %s)", n, context.Cause(ctx), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitingOn reports whether every priority's consumer of the default queue
// has n waiting pull requests, and what it saw.
func waitingOn(ctx context.Context, js jetstream.JetStream, n int) (bool, string) {
	ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := js.Stream(ictx, prefix+"_work")
	if err != nil {
		return false, err.Error()
	}
	var seen []string
	for l := range levels {
		name := "w_default_" + strconv.Itoa(l)
		c, err := s.Consumer(ictx, name)
		if err != nil {
			return false, name + ": " + err.Error()
		}
		w := c.CachedInfo().NumWaiting
		seen = append(seen, fmt.Sprintf("%s %d waiting", name, w))
		if w < n {
			return false, strings.Join(seen, ", ")
		}
	}
	return true, strings.Join(seen, ", ")
}

// tail is the end of s, at most n bytes.
func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// clusterString says who leads a raft group and how its replicas are.
func clusterString(ci *jetstream.ClusterInfo) string {
	if ci == nil {
		return "none"
	}
	s := "leader " + ci.Leader
	for _, r := range ci.Replicas {
		s += fmt.Sprintf(", %s current %v active %v lag %d", r.Name, r.Current, r.Active.Round(time.Millisecond), r.Lag)
	}
	return s
}

// readLog counts the starts and ends of each job in a handler log.
func readLog(name string) (starts, ends map[string]int) {
	starts, ends = map[string]int{}, map[string]int{}
	b, err := os.ReadFile(name)
	if err != nil {
		return
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if id, ok := strings.CutPrefix(line, "s "); ok {
			starts[id]++
		} else if id, ok := strings.CutPrefix(line, "e "); ok {
			ends[id]++
		}
	}
	return
}
