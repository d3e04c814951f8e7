// Command paintbench measures the web dashboard's first paint in a real
// browser (Debian's chromium, driven by chromedp): a daemon with the
// dashboard, 5 apps of 2 instances, and a jobs page over herd demo's jobs
// API with 20 jobs; the apps page and the jobs page are loaded again and
// again in one warm browser, and each load's first contentful paint and
// the time its table is drawn (both from the page's own clock, ms since
// the navigation started) are kept. With -base, a build of another tree
// (such as a checkout of main) is measured in alternation with this one.
//
// Every measured load follows a page of one line from another origin,
// itself loaded after another such page: the first pays for the teardown
// of the dashboard page before it (its own row), the second is the floor,
// what this browser on this machine takes to paint anything.
//
//	go run ./bench/paintbench                       # 30 loads of each page
//	go run ./bench/paintbench -base /path/to/main   # this tree against another
//	go run ./bench/paintbench -quick                # a smoke pass; numbers mean nothing
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/herdrun/herd/bench/internal/herdbin"
	"github.com/herdrun/herd/bench/internal/report"
)

func main() {
	n := flag.Int("n", 30, "loads of each page per build")
	quick := flag.Bool("quick", false, "a smoke pass of 2 loads (numbers mean nothing)")
	base := flag.String("base", "", "another source tree whose build is measured in alternation")
	chrome := flag.String("chromium", "chromium", "the browser")
	jsonPath := flag.String("json", "", "write the raw samples here")
	flag.Parse()
	if *quick {
		*n = 2
	}
	rep, err := run(context.Background(), *n, *base, *chrome)
	if err != nil {
		fmt.Fprintln(os.Stderr, "paintbench:", err)
		os.Exit(1)
	}
	rep.Print(os.Stdout)
	if *jsonPath != "" {
		if err := rep.SaveJSON(*jsonPath); err != nil {
			fmt.Fprintln(os.Stderr, "paintbench:", err)
			os.Exit(1)
		}
	}
}

// build is one herd binary with its daemon and dashboard.
type build struct {
	name, herd, home, url string
	h                     *herdbin.Herd // once started
	jobs                  bool          // it has a jobs page
	fcp, drawn, response  map[string][]float64
}

func run(ctx context.Context, n int, base, chrome string) (*report.Report, error) {
	root, err := report.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "paintbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	trees := [][2]string{{"this tree", root}}
	if base != "" {
		trees = append(trees, [2]string{"base", base})
	}
	var builds []*build
	for i, t := range trees {
		herd := filepath.Join(dir, "herd"+strconv.Itoa(i))
		if err := herdbin.Build(ctx, t[1], herd); err != nil {
			return nil, err
		}
		builds = append(builds, &build{name: t[0], herd: herd, home: filepath.Join(dir, "home"+strconv.Itoa(i)),
			fcp: map[string][]float64{}, drawn: map[string][]float64{}, response: map[string][]float64{}})
	}
	// One jobs API for every build: this tree's herd demo, with jobs.
	demo := exec.CommandContext(ctx, builds[0].herd, "demo", "--workers", "0", "--port", "0")
	demo.Env = append(os.Environ(), "HERD_DEMO_LIMIT=1000")
	out, err := demo.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := demo.Start(); err != nil {
		return nil, err
	}
	defer func() {
		demo.Process.Signal(syscall.SIGTERM)
		demo.Wait()
	}()
	jobsURL, err := listening(out)
	if err != nil {
		return nil, err
	}
	go io.Copy(io.Discard, out)
	for i := range 20 {
		body := fmt.Sprintf(`{"kind":"resize","args":{"width":%d}}`, 8+i)
		resp, err := http.Post(jobsURL+"/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
	}
	for _, b := range builds {
		defer b.stop() // also when start fails after launching the daemon
		if err := b.start(ctx, jobsURL); err != nil {
			return nil, err
		}
	}

	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1300, 900),
		chromedp.UserDataDir(filepath.Join(dir, "chromium")))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	for _, b := range builds { // the token's cookie, and a warm browser
		if err := chromedp.Do(bctx, chromedp.Navigate(b.url)); err != nil {
			return nil, err
		}
		if _, err := load(bctx, b.url[:strings.Index(b.url, "?")]); err != nil {
			return nil, fmt.Errorf("%s: %w", b.name, err)
		}
	}
	// The floor: this browser's first paint of a page of one line, served
	// on two ports of the same site (a page of another site would need
	// another renderer process, and the page after it would pay for that).
	one := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>x</title><p>herd</p><script>window.herdFirstRender = performance.now()</script>")
	})}
	var oneLns []net.Listener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		oneLns = append(oneLns, ln)
		go one.Serve(ln)
	}
	defer one.Close()
	var floor, afterDash []float64
	for i := range n {
		order := builds
		if i%2 == 1 { // each build comes first in every other round
			order = append([]*build(nil), builds...)
			slices.Reverse(order)
		}
		for _, b := range order {
			pages := []string{"/"}
			if b.jobs {
				pages = append(pages, "/jobs")
			}
			for _, p := range pages {
				// Each page follows the page of one line, twice, from two
				// origins: what the page before leaves to do (its streams,
				// its teardown) would count against the next. The first
				// of the two pays for it; the second, like the measured
				// page, comes from another origin: it is the floor.
				var t timings
				for i, ln := range oneLns {
					t, err = load(bctx, "http://"+ln.Addr().String()+"/")
					if err != nil {
						return nil, fmt.Errorf("a page of one line: %w", err)
					}
					if i == 0 {
						afterDash = append(afterDash, t.FCP)
					}
				}
				floor = append(floor, t.FCP)
				t, err = load(bctx, strings.TrimSuffix(b.url[:strings.Index(b.url, "?")], "/")+p)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", b.name, p, err)
				}
				b.fcp[p] = append(b.fcp[p], t.FCP)
				b.drawn[p] = append(b.drawn[p], t.Drawn)
				b.response[p] = append(b.response[p], t.Response)
			}
		}
	}

	rep := report.New("go run ./bench/paintbench")
	rep.Add(report.Row{Suite: "dashboard", Name: "a page of one line, first contentful paint", Unit: "ms", Better: "lower",
		Herd: report.Series{Name: "chromium", Samples: floor},
		Note: "the floor: what this browser on this machine takes to paint anything (after a page of one line of another origin)"})
	rep.Add(report.Row{Suite: "dashboard", Name: "a page of one line after a dashboard page, first contentful paint", Unit: "ms", Better: "lower",
		Herd: report.Series{Name: "chromium", Samples: afterDash},
		Note: "the same page, loaded while the dashboard page before it is torn down"})
	for _, p := range []string{"/", "/jobs"} {
		for _, m := range []struct {
			what string
			of   func(*build) []float64
		}{
			{"page received", func(b *build) []float64 { return b.response[p] }},
			{"first contentful paint", func(b *build) []float64 { return b.fcp[p] }},
			{"table drawn", func(b *build) []float64 { return b.drawn[p] }},
		} {
			row := report.Row{Suite: "dashboard", Name: "page " + p + ", " + m.what, Unit: "ms", Better: "lower",
				Herd: report.Series{Name: builds[0].name, Samples: m.of(builds[0])},
				Note: "ms since the navigation started, in a warm browser; target: first paint under 100 ms"}
			for _, b := range builds[1:] {
				if s := m.of(b); len(s) > 0 {
					row.Peers = append(row.Peers, report.Series{Name: b.name, Samples: s})
				}
			}
			if len(row.Herd.Samples) > 0 {
				rep.Add(row)
			}
		}
	}
	return rep, nil
}

var listenRE = regexp.MustCompile(`Listening on (http://\S+)`)

// listening reads herd demo's banner until it says where it listens.
func listening(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			return m[1], nil
		}
	}
	return "", errors.New("herd demo ended before it listened")
}

// start launches b's daemon with the dashboard on a free port, 5 apps of
// 2 instances, and the jobs page over jobsURL (HERD_JOBS_URL: a build
// without a jobs page ignores it).
func (b *build) start(ctx context.Context, jobsURL string) error {
	addr, err := herdbin.FreeAddr()
	if err != nil {
		return err
	}
	h, err := herdbin.New(b.herd, b.home, "HERD_DASHBOARD="+addr, "HERD_JOBS_URL="+jobsURL)
	if err != nil {
		return err
	}
	b.h = h
	if err := h.WriteToken(); err != nil {
		return err
	}
	// The first herd start launches the daemon, with the dashboard.
	if err := h.StartApps(ctx, "app", 5, 2, "sleep", "3600"); err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	if b.url, err = h.DashboardURL(ctx); err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	home, token, _ := strings.Cut(b.url, "?token=")
	page, err := herdbin.Get(ctx, home, token)
	if err != nil {
		return err
	}
	b.jobs = bytes.Contains(page, []byte(`href="/jobs"`))
	return nil
}

func (b *build) stop() {
	if b.h != nil {
		b.h.Kill()
	}
}

type timings struct {
	FCP         float64 `json:"fcp"`
	Drawn       float64 `json:"drawn"`
	Response    float64 `json:"response"`    // the page's last byte
	Interactive float64 `json:"interactive"` // parsed
}

// load navigates to url and returns the page's first contentful paint and
// the time its script drew the table.
func load(ctx context.Context, url string) (timings, error) {
	var t timings
	err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		js := `(() => { const p = performance.getEntriesByName("first-contentful-paint")[0];
			const n = performance.getEntriesByType("navigation")[0];
			return p && window.herdFirstRender !== undefined ? JSON.stringify({fcp: p.startTime, drawn: window.herdFirstRender,
				response: n.responseEnd, interactive: n.domInteractive}) : ""; })()`
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			s, err := chromedp.Evaluate[string](js)(ctx, tg)
			if err != nil {
				return err
			}
			if s != "" {
				return json.Unmarshal([]byte(s), &t)
			}
			time.Sleep(20 * time.Millisecond)
		}
		s, err := chromedp.Evaluate[string](`JSON.stringify({url: location.href, paint: performance.getEntriesByType("paint").map(e => e.name), drawn: window.herdFirstRender, conn: document.getElementById("conn").textContent, initial: document.getElementById("herd-initial").textContent.slice(0, 100), rows: document.querySelectorAll("tbody tr").length})`)(ctx, tg)
		return fmt.Errorf("no first paint within 30 s: %s %v", s, err)
	}))
	return t, err
}
