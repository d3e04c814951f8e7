package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/ipc"
)

// The test binary doubles as every process of a cluster: with
// HERD_TEST_SCENARIO set it runs that scenario (as a primary when
// HERD_TEST_PRIMARY is set, as a worker when the primary started it), and
// with HERD_TEST_ACTIVATED set it is a plain socket-activated program for
// Config.Command.
const (
	envScenario  = "HERD_TEST_SCENARIO"
	envPrimary   = "HERD_TEST_PRIMARY"
	envActivated = "HERD_TEST_ACTIVATED"
	envAbrupt    = "HERD_TEST_ABRUPT"
	envGraceful  = "HERD_TEST_GRACEFUL"
)

func TestMain(m *testing.M) {
	if os.Getenv(envActivated) != "" {
		os.Exit(runActivated())
	}
	if os.Getenv(envAbrupt) != "" {
		os.Exit(runAbrupt())
	}
	if os.Getenv(envGraceful) != "" {
		os.Exit(runGraceful())
	}
	if name := os.Getenv(envScenario); name != "" {
		os.Exit(runScenario(name))
	}
	testutil.VerifyTestMain(m)
}

// scenario returns the Config and worker function of a named scenario.
// Knobs come from the environment so that a test can vary them.
func scenario(name string) (Config, WorkerFunc) {
	cfg := Config{
		Workers:           envIntOr("HERD_TEST_WORKERS", 2),
		Listen:            []Addr{{Address: "127.0.0.1:0"}},
		HeartbeatInterval: envDurOr("HERD_TEST_HB_INTERVAL", 100*time.Millisecond),
		HeartbeatTimeout:  envDurOr("HERD_TEST_HB_TIMEOUT", 2*time.Second),
		ShutdownTimeout:   envDurOr("HERD_TEST_SHUTDOWN", 10*time.Second),
		ReadyTimeout:      envDurOr("HERD_TEST_READY", 10*time.Second),
		BackoffInitial:    envDurOr("HERD_TEST_BACKOFF", 0),
		CrashLoopMax:      envIntOr("HERD_TEST_CRASHMAX", 0),
		CrashLoopWindow:   envDurOr("HERD_TEST_CRASHWIN", 0),
		MinUptime:         envDurOr("HERD_TEST_MINUP", 0),
		MaxRequests:       int64(envIntOr("HERD_TEST_MAXREQ", 0)),
		MaxLifetime:       envDurOr("HERD_TEST_MAXLIFE", 0),
		RecycleJitter:     -1,
		Env:               []string{envScenario + "=" + name},
	}
	cfg.Policy, _ = ParsePolicy(os.Getenv("HERD_TEST_POLICY"))
	cfg.Sticky = os.Getenv("HERD_TEST_STICKY") != ""
	switch name {
	case "bootfail":
		return cfg, func(ctx context.Context, w *Worker) error {
			return errors.New("database unreachable at boot")
		}
	case "crashloop":
		return cfg, func(ctx context.Context, w *Worker) error {
			if _, err := w.Listen("tcp", "127.0.0.1:0"); err != nil {
				return err
			}
			time.Sleep(20 * time.Millisecond)
			return errors.New("boom")
		}
	case "noready":
		cfg.ManualReady = true
		return cfg, func(ctx context.Context, w *Worker) error {
			<-ctx.Done()
			return nil
		}
	case "reloadfail":
		// Workers started after the marker file exists fail to boot.
		return cfg, func(ctx context.Context, w *Worker) error {
			if _, err := os.Stat(os.Getenv("HERD_TEST_MARKER")); err == nil {
				return errors.New("bad release")
			}
			return serveHello(ctx, w)
		}
	}
	return cfg, serveHello
}

// serveHello is the tutorial's worker: "Handled by worker <pid>", plus
// /slow?ms=N, /echo (messages) and /version.
func serveHello(ctx context.Context, w *Worker) error {
	ln, err := w.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		for {
			m, err := w.Recv(context.Background())
			if err != nil {
				return
			}
			_ = w.Send(context.Background(), map[string]any{"echo": m, "worker": w.ID()})
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "Handled by worker %d", os.Getpid())
	})
	mux.HandleFunc("/slow", func(rw http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(rw, "slow %d", os.Getpid())
	})
	mux.HandleFunc("/version", func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "v%s %d", os.Getenv("HERD_TEST_VERSION"), os.Getpid())
	})
	return w.Serve(ctx, ln, mux)
}

// runScenario runs a scenario in this process and returns the exit status.
func runScenario(name string) int {
	cfg, fn := scenario(name)
	if os.Getenv(envPrimary) == "" && !IsWorker() {
		fmt.Fprintln(os.Stderr, "scenario", name, "started outside a cluster")
		return 2
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg.OnEvent = func(e Event) {
		fmt.Printf("EV %s %d %d %d %d %s %v %q %d\n", e.Kind, e.Worker, e.Slot, e.PID, e.Status.Code, sigName(e.Status.Signal), e.Expected, e.Reason, e.Time.UnixNano())
	}
	c := New(cfg, fn)
	go func() {
		select {
		case <-c.Ready():
			fmt.Printf("ADDR %s\n", c.Addrs()[0])
		case <-c.Done():
		}
	}()
	if err := c.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "primary:", err)
		return 1
	}
	return 0
}

// runActivated is a socket-activated program for Config.Command: it checks
// LISTEN_PID and LISTEN_FDS, serves HTTP on fd 3 and says "ready" on the
// Node channel.
func runActivated() int {
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") != "1" {
		fmt.Fprintf(os.Stderr, "activated: LISTEN_PID=%q LISTEN_FDS=%q pid %d\n", os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS"), os.Getpid())
		return 3
	}
	f := os.NewFile(3, "listener")
	ln, err := netFileListener(f)
	if err != nil {
		fmt.Fprintln(os.Stderr, "activated:", err)
		return 3
	}
	conn, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "activated:", err)
		return 3
	}
	defer conn.Close()
	ctx, stop := signalContext()
	defer stop()
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "activated %d %s", os.Getpid(), os.Getenv("LISTEN_FDNAMES"))
	})}
	go srv.Serve(ln)
	_ = conn.Send(ctx, "ready")
	select {
	case <-ctx.Done():
	case <-conn.Done():
	}
	// Stop accepting first and give connections already accepted a moment
	// to be tracked by the server: http.Server.Shutdown can otherwise miss
	// a connection that Accept has returned but Serve has not registered,
	// and exit under it.
	ln.Close()
	time.Sleep(50 * time.Millisecond)
	srv.Shutdown(context.Background())
	return 0
}

// sigName returns the signal's name, or "-" for none.
func sigName(sig syscall.Signal) string {
	if sig == 0 {
		return "-"
	}
	return child.SignalName(sig)
}

func envIntOr(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return n
	}
	return def
}

func envDurOr(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil {
		return d
	}
	return def
}

// ev is an event line printed by a scenario primary.
type ev struct {
	Kind              string
	Worker, Slot, PID int
	Code              int
	Signal            string
	Expected          bool
	Reason            string
	Time              time.Time
}

func parseEv(line string) (ev, bool) {
	if !strings.HasPrefix(line, "EV ") {
		return ev{}, false
	}
	var e ev
	var ns int64
	var exp string
	// The reason is quoted; split around it.
	q := strings.IndexByte(line, '"')
	r := strings.LastIndexByte(line, '"')
	if q < 0 || r <= q {
		return ev{}, false
	}
	if _, err := fmt.Sscanf(line[:q], "EV %s %d %d %d %d %s %s", &e.Kind, &e.Worker, &e.Slot, &e.PID, &e.Code, &e.Signal, &exp); err != nil {
		return ev{}, false
	}
	e.Expected = exp == "true"
	e.Reason, _ = strconv.Unquote(line[q : r+1])
	fmt.Sscanf(strings.TrimSpace(line[r+1:]), "%d", &ns)
	e.Time = time.Unix(0, ns)
	return e, true
}

func netFileListener(f *os.File) (net.Listener, error) { return net.FileListener(f) }

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
}
