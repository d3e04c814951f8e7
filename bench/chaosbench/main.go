// Command chaosbench is the long form of `herd run`'s chaos test: for a
// while (2 minutes by default) it kills instances with SIGKILL, reloads
// (SIGHUP) and scales (SIGTTIN, SIGTTOU) `herd run -i 2 -p PORT -- node
// bench/node/cluster-app.js` at random under HTTP load (internal/chaos), then
// checks that no request failed unless it was in flight at a SIGKILL, that
// herd kept no descriptor or process of what it lost, and that its RSS
// stayed under -max-rss.
//
// Usage, from the repository root:
//
//	go run ./bench/chaosbench [-d 2m] [-seed N] [-interval 400ms] [-max-rss 200] [-v]
//
// It prints the report and exits 1 when the run shows a defect.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/herdrun/herd/bench/internal/report"
	"github.com/herdrun/herd/internal/chaos"
)

func main() {
	d := flag.Duration("d", 2*time.Minute, "how long faults and load go on")
	seed := flag.Uint64("seed", 0, "seed of the faults (0: random; the report prints it)")
	interval := flag.Duration("interval", chaos.DefaultInterval, "mean time between faults")
	maxRSS := flag.Int64("max-rss", 200, "bound of herd's RSS, in MB")
	verbose := flag.Bool("v", false, "print herd's output and every fault")
	flag.Parse()
	if err := run(*d, *seed, *interval, *maxRSS<<20, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "chaosbench:", err)
		os.Exit(1)
	}
}

func run(d time.Duration, seed uint64, interval time.Duration, maxRSS int64, verbose bool) error {
	root, err := report.RepoRoot()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("node is not on PATH; the app needs it: %w", err)
	}
	tmp, err := os.MkdirTemp("", "chaosbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	herd := filepath.Join(tmp, "herd")
	if b, err := exec.Command("go", "build", "-o", herd, filepath.Join(root, "cmd", "herd")).CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/herd: %v\n%s", err, b)
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var out io.Writer
	if verbose {
		out = os.Stdout
	}
	fmt.Printf("chaos for %v against herd run -i 2 -- node bench/node/cluster-app.js\n", d)
	rep, err := chaos.Run(ctx, chaos.Options{
		Command: []string{herd, "run", "-i", "2", "--host", "127.0.0.1", "-p", strconv.Itoa(port),
			"--max-restarts", "-1", "--backoff", "50ms", "--kill-timeout", "5s", "--",
			"node", filepath.Join(root, "bench", "node", "cluster-app.js")},
		Env:       []string{"NO_COLOR=1"},
		Addr:      "127.0.0.1:" + strconv.Itoa(port),
		Duration:  d,
		Instances: 2,
		Interval:  interval,
		Seed:      seed,
		Output:    out,
	})
	if err != nil {
		return err
	}
	fmt.Println(rep)
	return rep.Err(2, maxRSS)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
