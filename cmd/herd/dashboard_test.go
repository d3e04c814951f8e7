package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/testutil"
)

// chromiumPath returns Debian's chromium, skipping the test without it
// (failing in CI, where .ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// httpReq sends a request to the dashboard and returns its status and body.
func httpReq(t *testing.T, method, url string, hdr map[string]string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The web dashboard in a real browser (Debian's chromium, driven by
// chromedp) over a real daemon started by herd start with HERD_DASHBOARD:
// the page lists the running apps; a restart from the CLI shows on the open
// page without a reload; a restart clicked on the page (and confirmed)
// takes effect; the log tail streams and filters. Without the token, with a
// wrong Host, or a POST without the CSRF header or from another origin,
// the dashboard refuses. Screenshots go to a temp dir named in the log.
func TestDashboardInChromium(t *testing.T) {
	chrome := chromiumPath(t)
	home := t.TempDir()
	port := testutil.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := append(daemonEnv(t, home), "HERD_DASHBOARD=127.0.0.1:"+strconv.Itoa(port))
	mustHerd(t, env, "start", "--name", "web", "-i", "2", "--kill-timeout", "2s", "--", "sleep", "300")
	mustHerd(t, env, "start", "--name", "ticker", "--kill-timeout", "2s", "--", "sh", "-c",
		`i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.2; done`)
	var url string
	testutil.WaitFor(t, "herd dashboard to print the URL", func() bool {
		code, out, _ := herdCmd(t, env, "dashboard")
		url = strings.TrimSpace(out)
		return code == 0
	})
	if !strings.HasPrefix(url, base+"/?token=") {
		t.Fatalf("herd dashboard: %q", url)
	}
	token := strings.TrimPrefix(url, base+"/?token=")
	if st, err := os.Stat(filepath.Join(home, "dashboard.token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", st, err)
	}

	// Refusals, over plain HTTP.
	if code, _ := httpReq(t, "GET", base+"/", nil); code != 401 {
		t.Errorf("GET / without the token: %d, want 401", code)
	}
	if code, _ := httpReq(t, "GET", base+"/api/stream", map[string]string{"Authorization": "Bearer wrong" + token}); code != 401 {
		t.Errorf("a wrong token: %d, want 401", code)
	}
	auth := map[string]string{"Authorization": "Bearer " + token}
	if code, _ := httpReq(t, "GET", base+"/", map[string]string{"Authorization": "Bearer " + token, "Host": "evil.example:" + strconv.Itoa(port)}); code != 421 {
		t.Errorf("another Host: %d, want 421", code)
	}
	if code, body := httpReq(t, "POST", base+"/api/apps/web/stop", auth); code != 403 || !strings.Contains(body, "X-Herd-CSRF") {
		t.Errorf("POST without CSRF: %d %s", code, body)
	}
	if code, body := httpReq(t, "POST", base+"/api/apps/web/stop", map[string]string{"Authorization": "Bearer " + token, "Origin": "http://evil.example"}); code != 403 || !strings.Contains(body, "cross-origin") {
		t.Errorf("POST from another origin: %d %s", code, body)
	}
	if code, body := httpReq(t, "GET", base+"/metrics", auth); code != 200 || !strings.Contains(body, `herd_app_up{app="web"} 1`) {
		t.Errorf("/metrics: %d %.300s", code, body)
	}
	if l, err := lsJSON(env); err != nil || l.Apps[0].Status != daemon.StatusOnline {
		t.Fatalf("after the refused POSTs: %+v %v", l, err)
	}

	shots, err := os.MkdirTemp("", "herd-dashboard-shots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1300, 800),
		chromedp.UserDataDir(t.TempDir()))...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	shot := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			b, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			p := filepath.Join(shots, name+".png")
			t.Logf("screenshot %s", p)
			return os.WriteFile(p, b, 0o644)
		})
	}
	poll := func(what, js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			if _, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))(ctx, tg); err != nil {
				return fmt.Errorf("waiting for %s (%s): %w", what, js, err)
			}
			return nil
		})
	}
	cell := func(app, class string) string {
		return fmt.Sprintf(`(document.querySelector('tr.app[data-app="%s"] td.%s') || {}).textContent`, app, class)
	}
	// The page lists the running apps, live.
	began := time.Now()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`tr.app[data-app="web"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr.app[data-app="ticker"]`)),
	); err != nil {
		t.Fatal(err)
	}
	t.Logf("apps listed %v after the navigation began", time.Since(began).Round(time.Millisecond))
	// The page's own clock: first contentful paint, and the first table
	// of apps drawn, in ms since the navigation started (logged, not
	// asserted: the machine is shared).
	if paint, err := chromedp.Run(bctx, chromedp.Evaluate[string](
		`JSON.stringify({fcp: (performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime, apps: window.herdFirstRender})`)); err == nil {
		t.Logf("page timings (ms): %s", paint)
	}
	if err := chromedp.Do(bctx,
		poll("web online with 2 instances", cell("web", "status")+` === "online" && `+cell("web", "inst")+` === "2/2"`),
		poll("2 instance rows of web", `document.querySelectorAll('tr.inst[data-app="web"]').length === 2`),
		poll("the script's rows", `window.herdDraws >= 1`),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`window.herdMarker = 42; window.herdButton = document.querySelector('tr.app[data-app="web"] button[title="restart web"]'); true`)(ctx, tg)
			return err
		}),
		shot("1-apps"),
	); err != nil {
		t.Fatal(err)
	}
	// A restart from the CLI shows on the open page, without a reload.
	mustHerd(t, env, "restart", "web")
	if err := chromedp.Do(bctx, poll("1 restart of web", cell("web", "restarts")+` === "1"`)); err != nil {
		t.Fatal(err)
	}
	marker, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.herdMarker`))
	if err != nil {
		t.Fatal(err)
	}
	if marker != 42 {
		t.Fatalf("the page was reloaded (marker %d)", marker)
	}
	// The updates since then rewrote the row's text, not the row: the
	// button is the same element (a click pressed during an update is not
	// lost on a replaced one).
	same, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.herdButton.isConnected && window.herdButton === document.querySelector('tr.app[data-app="web"] button[title="restart web"]')`))
	if err != nil {
		t.Fatal(err)
	}
	if !same {
		t.Fatal("the restart button of web was replaced by an update: rows must be updated in place")
	}
	// A restart clicked on the page, and confirmed, takes effect.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`tr.app[data-app="web"] button[title="restart web"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-yes`)),
		shot("2-confirm"),
		chromedp.Click(chromedp.CSS(`#confirm-yes`), chromedp.NodeVisible),
		poll("2 restarts of web", cell("web", "restarts")+` === "2"`),
		poll("the outcome line", `document.getElementById("msg").textContent === "restart web: done"`),
	); err != nil {
		t.Fatal(err)
	}
	if err := waitApp(env, "web", daemon.StatusOnline, 2, 2); err != nil {
		t.Fatal(err)
	}
	if l, _ := lsJSON(env); l.Apps[0].Restarts < 2 {
		t.Fatalf("herd ls: web restarts %d after the click, want 2", l.Apps[0].Restarts)
	}
	// The log tail streams, and the filter keeps the matching lines.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`tr.app[data-app="ticker"] button[title="show the logs of ticker"]`), chromedp.NodeVisible),
		poll("ticks in the log pane", `document.getElementById("logs-lines").textContent.includes("ticker[0] | tick ")`),
		chromedp.SendKeys(chromedp.CSS(`#logs-filter`), "tick 1"),
		poll("only lines with tick 1", `[...document.querySelectorAll("#logs-lines div")].every(d => d.textContent.includes("tick 1")) && document.querySelectorAll("#logs-lines div").length > 0`),
		shot("3-logs"),
	); err != nil {
		t.Fatal(err)
	}
	// Light and dark themes follow the system's preference.
	bg := `getComputedStyle(document.body).backgroundColor`
	if err := chromedp.Do(bctx,
		poll("the light background", bg+` === "rgb(255, 255, 255)"`),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}),
		poll("the dark background", bg+` === "rgb(13, 17, 23)"`),
		shot("4-dark"),
	); err != nil {
		t.Fatal(err)
	}

	// With scripts off, the page still lists the apps and their
	// instances: the server draws the first view.
	noScript(t, bctx, base+"/", shots, "5-no-script",
		`document.querySelectorAll('tr.app[data-app="web"]').length === 1 && document.querySelectorAll('tr.inst[data-app="web"]').length === 2 && `+
			`document.querySelector('tr.app[data-app="ticker"] td.status').textContent === "online" && `+
			`!!document.querySelector('tr.app[data-app="web"] button[title="restart web"]')`)
}

// noScript loads url in a new tab of bctx's browser with the page's
// scripts off, and fails t unless the expression check (evaluated by the
// browser's devtools, not by the page) is true, the page's script did not
// run, and the stream was not opened; the screenshot goes to dir/name.png.
func noScript(t *testing.T, bctx context.Context, url, dir, name, check string) {
	t.Helper()
	var mu sync.Mutex
	var streams []string
	nctx, ncancel := chromedp.NewContext(bctx, chromedp.WithListener(func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.Contains(e.Request.URL, "/stream") {
			mu.Lock()
			streams = append(streams, e.Request.URL)
			mu.Unlock()
		}
	}))
	defer ncancel()
	ok, err := chromedp.Run(nctx, func(ctx context.Context, tg *chromedp.Target) (bool, error) {
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return false, err
		}
		if _, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			return false, err
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
			return false, err
		}
		b, err := chromedp.FullScreenshot(100)(ctx, tg)
		if err == nil {
			p := filepath.Join(dir, name+".png")
			if os.WriteFile(p, b, 0o644) == nil {
				t.Logf("screenshot %s", p)
			}
		}
		return chromedp.Evaluate[bool](`window.herdFirstRender === undefined && (`+check+`)`)(ctx, tg)
	})
	mu.Lock()
	defer mu.Unlock()
	if err != nil || !ok || len(streams) > 0 {
		t.Errorf("%s with scripts off: %v %v (streams opened: %q)", url, ok, err, streams)
	}
}
