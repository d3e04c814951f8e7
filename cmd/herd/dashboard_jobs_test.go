package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
)

// The dashboard's jobs page in a real browser (Debian's chromium, driven by
// chromedp), over a real daemon launched by herd start with HERD_DASHBOARD
// and HERD_JOBS_URL naming a real herd demo's jobs API, with jobs submitted
// by herd jobs: the page lists the queues and the jobs by state; the state,
// queue and text filters narrow the list; a job's detail shows its
// arguments, attempts and result; a failed job retried on the page
// succeeds; a job that waits for a free worker moves from queued to
// succeeded on the open page when a running job is cancelled on the page;
// the list is newest first, oldest first at a click of its toggle;
// Escape and Enter work where a mouse would.
// Screenshots go to a temp dir named in the log.
func TestDashboardJobsInChromium(t *testing.T) {
	chrome := chromiumPath(t)
	demo, api := startDemoJobs(t, "--workers", "0", "--grace", "1s")
	jc := &jobsclient.Client{URL: api, HTTP: testutil.HTTPClient()}
	if out := demo.stdout.String(); !strings.Contains(out, "herd daemon --dashboard 127.0.0.1:9596 --jobs-url "+api+"\n") {
		t.Errorf("the demo's banner does not say how to see its jobs in the dashboard:\n%s", out)
	}
	home := t.TempDir()
	port := testutil.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := append(daemonEnv(t, home), "HERD_DASHBOARD=127.0.0.1:"+strconv.Itoa(port), "HERD_JOBS_URL="+api)
	mustHerd(t, env, "start", "--name", "idle", "--kill-timeout", "2s", "--", "sleep", "300")
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

	submit := func(args ...string) string {
		t.Helper()
		code, out, errOut := herdJobs(t, api, append([]string{"submit", "resize"}, args...)...)
		if code != 0 || !idRE.MatchString(out) {
			t.Fatalf("herd jobs submit %q: exit %d %q %q", args, code, out, errOut)
		}
		return strings.TrimSpace(out)
	}
	state := func(id string) jobs.State {
		t.Helper()
		info, err := jc.Get(t.Context(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		return info.State
	}
	// A job that succeeds; one that fails because its upload is not there
	// yet (it will be, before the retry); one on a queue no worker takes.
	ok := submit(`{"width":16}`)
	if code, _, errOut := herdJobs(t, api, "wait", ok); code != 0 {
		t.Fatalf("wait %s: exit %d %s", ok, code, errOut)
	}
	var img bytes.Buffer
	png.Encode(&img, image.NewGray(image.Rect(0, 0, 24, 12)))
	sum := sha256.Sum256(img.Bytes())
	failed := submit(`{"upload":"`+hex.EncodeToString(sum[:])+`"}`, "--max-attempts", "1")
	if code, _, _ := herdJobs(t, api, "wait", failed); code != 1 || state(failed) != jobs.StateFailed {
		t.Fatalf("wait %s: exit %d, state %s; want it failed", failed, code, state(failed))
	}
	idle := submit("--queue", "other")

	// Without the token or the CSRF value, the jobs routes refuse.
	if code, _ := httpReq(t, "GET", base+"/jobs", nil); code != 401 {
		t.Errorf("GET /jobs without the token: %d, want 401", code)
	}
	if code, body := httpReq(t, "POST", base+"/api/jobs/"+idle+"/cancel", map[string]string{"Authorization": "Bearer " + token}); code != 403 || !strings.Contains(body, "X-Herd-CSRF") {
		t.Errorf("POST cancel without CSRF: %d %s", code, body)
	}
	if state(idle) != jobs.StateQueued {
		t.Fatalf("after the refused cancel, %s is %s", idle, state(idle))
	}

	shots, err := os.MkdirTemp("", "herd-dashboard-jobs-shots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1300, 1000),
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
			if _, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(45*time.Second))(ctx, tg); err != nil {
				return fmt.Errorf("waiting for %s (%s): %w", what, js, err)
			}
			return nil
		})
	}
	eval := func(js string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](js)(ctx, tg)
			return err
		})
	}
	row := func(id string) string { return `document.querySelector('#jobs tr[data-id="` + id + `"]')` }
	rowState := func(id string) string { return `(` + row(id) + ` || {dataset: {}}).dataset.state` }
	listed := `[...document.querySelectorAll("#jobs tbody tr")].map(r => r.dataset.id).join(" ")`
	queueCell := func(q, class string) string {
		return `(document.querySelector('#queues tr[data-queue="` + q + `"] td.` + class + `') || {}).textContent`
	}
	detail := func(class string) string {
		return `(document.querySelector('#job-fields dd.` + class + `') || {}).textContent`
	}

	// The page lists the queues and the jobs, each in its state; the apps
	// page links to it.
	began := time.Now()
	if err := chromedp.Do(bctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`nav a[href="/jobs"]`)),
		chromedp.Click(chromedp.CSS(`nav a[href="/jobs"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#jobs tr[data-id="`+idle+`"]`)),
	); err != nil {
		t.Fatal(err)
	}
	t.Logf("jobs listed %v after the navigation began", time.Since(began).Round(time.Millisecond))
	if paint, err := chromedp.Run(bctx, chromedp.Evaluate[string](
		`JSON.stringify({fcp: (performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime, jobs: window.herdFirstRender})`)); err == nil {
		t.Logf("jobs page timings (ms): %s", paint)
	}
	if err := chromedp.Do(bctx,
		poll("the three jobs in their states", rowState(ok)+` === "succeeded" && `+rowState(failed)+` === "failed" && `+rowState(idle)+` === "queued"`),
		poll("the queues", queueCell("default", "succeeded")+` === "1" && `+queueCell("default", "failed")+` === "1" && `+queueCell("other", "depth")+` === "1"`),
		poll("the failed job's error", `(`+row(failed)+`.querySelector("td.state") || {}).title.includes("args.upload")`),
		poll("a Retry button only on the failed job", `!!`+row(failed)+`.querySelector('button[title="retry job `+failed+`"]') && !`+row(ok)+`.querySelector("button[title^=retry]")`),
		poll("the script's rows", `window.herdDraws >= 1`),
		eval(`window.herdMarker = 42; window.herdIDButton = document.querySelector('#jobs tr[data-id="`+ok+`"] button.id'); window.herdStateButton = document.querySelector('#states button[data-state="failed"]')`),
		shot("1-jobs"),
	); err != nil {
		t.Fatal(err)
	}
	// With scripts off, the page still shows the queues, the jobs in
	// their states and the state buttons with their counts: the server
	// draws the first view.
	noScript(t, bctx, strings.TrimSuffix(url[:strings.Index(url, "?")], "/")+"/jobs", shots, "1-no-script",
		rowState(ok)+` === "succeeded" && `+rowState(failed)+` === "failed" && `+rowState(idle)+` === "queued" && `+
			queueCell("other", "depth")+` === "1" && document.querySelector('#states button[data-state="failed"]').textContent === "failed 1"`)

	// Newest first, and oldest first at a click, which the URL keeps; the
	// click again goes back.
	newest := idle + " " + failed + " " + ok
	if err := chromedp.Do(bctx,
		poll("the jobs newest first", listed+` === "`+newest+`" && document.getElementById("order").textContent === "Newest first"`),
		chromedp.Click(chromedp.CSS(`#order`), chromedp.NodeVisible),
		poll("the jobs oldest first", listed+` === "`+ok+` `+failed+` `+idle+`" && document.getElementById("order").textContent === "Oldest first"`),
		poll("the order in the URL", `location.search === "?order=oldest"`),
		chromedp.Click(chromedp.CSS(`#order`), chromedp.NodeVisible),
		poll("the jobs newest first again", listed+` === "`+newest+`" && location.search === ""`),
	); err != nil {
		t.Fatal(err)
	}
	// The updates since then (two new lists) moved the job rows and
	// rewrote the counts, but kept the elements: a click pressed during an
	// update is not lost on a replaced button.
	same, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`window.herdIDButton.isConnected && window.herdIDButton === document.querySelector('#jobs tr[data-id="`+ok+`"] button.id') && `+
		`window.herdStateButton.isConnected && window.herdStateButton === document.querySelector('#states button[data-state="failed"]')`))
	if err != nil {
		t.Fatal(err)
	}
	if !same {
		t.Fatal("a job's button or a state button was replaced by an update: rows and buttons must be updated in place")
	}

	// The filters: a state, a queue, text on the page; the URL keeps them.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#states button[data-state="failed"]`), chromedp.NodeVisible),
		poll("only the failed job", listed+` === "`+failed+`"`),
		poll("the state in the URL", `location.search === "?state=failed"`),
		shot("2-failed"),
		chromedp.Click(chromedp.CSS(`#states button[data-state=""]`), chromedp.NodeVisible),
		poll("every job again", listed+` === "`+newest+`"`),
		eval(`{ const s = document.getElementById("f-queue"); s.value = "other"; s.dispatchEvent(new Event("change")) }`),
		poll("only the job of queue other", listed+` === "`+idle+`"`),
		eval(`{ const s = document.getElementById("f-queue"); s.value = ""; s.dispatchEvent(new Event("change")) }`),
		poll("every job again", listed+` === "`+newest+`"`),
		chromedp.SendKeys(chromedp.CSS(`#f-text`), strings.ToLower(ok[len(ok)-8:])),
		poll("only the job whose ID has that text", listed+` === "`+ok+`"`),
		eval(`{ const f = document.getElementById("f-text"); f.value = ""; f.dispatchEvent(new Event("input")) }`),
		poll("every job again", listed+` === "`+newest+`"`),
	); err != nil {
		t.Fatal(err)
	}

	// A job's detail: its arguments, attempts and result.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#jobs tr[data-id="`+ok+`"] button.id`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#job`)),
		poll("the detail", detail("state")+` === "succeeded" && `+detail("attempts")+` === "1 of 3" && `+detail("kind")+` === "resize"`),
		poll("its arguments", `JSON.parse(document.getElementById("job-args").textContent).width === 16`),
		poll("its result", `!document.getElementById("job-result-box").hidden && document.getElementById("job-result").textContent.includes('"width": 16')`),
		poll("its progress", `document.getElementById("job-progress").value === 1`),
		poll("the job in the URL", `location.hash === "#`+ok+`"`),
		shot("3-detail"),
	); err != nil {
		t.Fatal(err)
	}

	// The keyboard: Escape closes the detail; a state button takes Enter.
	if err := chromedp.Do(bctx,
		chromedp.KeyEvent(kb.Escape),
		poll("the detail closed", `document.getElementById("job").hidden && location.hash === ""`),
		chromedp.Focus(chromedp.CSS(`#states button[data-state="failed"]`)),
		chromedp.KeyEvent(kb.Enter),
		poll("only the failed job, from the keyboard", listed+` === "`+failed+`"`),
		poll("the focus kept on its button across the redraws", `document.activeElement.dataset.state === "failed"`),
		chromedp.Focus(chromedp.CSS(`#states button[data-state=""]`)),
		chromedp.KeyEvent(kb.Enter),
		poll("every job again", listed+` === "`+newest+`"`),
	); err != nil {
		t.Fatal(err)
	}

	// The failed job, its upload now there, retried on the page: it
	// succeeds, on the page and for herd jobs.
	req, _ := http.NewRequestWithContext(t.Context(), "POST", api+"/resize-upload", bytes.NewReader(img.Bytes()))
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("upload: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`#jobs tr[data-id="`+failed+`"] button[title="retry job `+failed+`"]`), chromedp.NodeVisible),
		poll("the retried job succeeded", rowState(failed)+` === "succeeded"`),
		poll("the outcome line", `document.getElementById("msg").textContent.startsWith("retry `+failed+`: done")`),
	); err != nil {
		t.Fatal(err)
	}
	if s := state(failed); s != jobs.StateSucceeded {
		t.Fatalf("after the retry on the page, %s is %s", failed, s)
	}

	// Every worker busy with a slow job; one more waits, queued. Cancel
	// a slow one on the page: the waiting job runs and succeeds, on the
	// open page, without a reload.
	n := runtime.NumCPU() // the demo's workers (jobs.DefaultConcurrency)
	var slow []string
	for range n {
		slow = append(slow, submit(`{"width":8,"pause":"10s"}`))
	}
	testutil.WaitFor(t, "every slow job to run", func() bool {
		for _, id := range slow {
			if state(id) != jobs.StateRunning {
				return false
			}
		}
		return true
	})
	next := submit(`{"width":8}`)
	if err := chromedp.Do(bctx,
		poll("the slow jobs running", rowState(slow[0])+` === "running" && `+rowState(slow[n-1])+` === "running"`),
		poll("the next job queued", rowState(next)+` === "queued"`),
		chromedp.Click(chromedp.CSS(`#jobs tr[data-id="`+next+`"] button.id`), chromedp.NodeVisible),
		poll("its detail, queued", detail("state")+` === "queued" && document.getElementById("job-id").textContent === "`+next+`"`),
		shot("4-queued"),
		chromedp.Click(chromedp.CSS(`#jobs tr[data-id="`+slow[0]+`"] button[title="cancel job `+slow[0]+`"]`), chromedp.NodeVisible),
		chromedp.WaitVisible(chromedp.CSS(`#confirm-yes`)),
		shot("5-confirm"),
		chromedp.Click(chromedp.CSS(`#confirm-yes`), chromedp.NodeVisible),
		poll("the slow job cancelled", rowState(slow[0])+` === "cancelled"`),
		poll("the next job succeeded in its detail", detail("state")+` === "succeeded" && `+detail("worker")+` !== ""`),
		poll("the next job succeeded in the list", rowState(next)+` === "succeeded"`),
		shot("6-succeeded"),
	); err != nil {
		t.Fatal(err)
	}
	if s := state(slow[0]); s != jobs.StateCancelled {
		t.Fatalf("after the cancel on the page, %s is %s", slow[0], s)
	}
	marker, err := chromedp.Run(bctx, chromedp.Evaluate[int](`window.herdMarker`))
	if err != nil || marker != 42 {
		t.Fatalf("the page was reloaded (marker %d, %v)", marker, err)
	}
	// Dark theme.
	if err := chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}),
		poll("the dark background", `getComputedStyle(document.body).backgroundColor === "rgb(13, 17, 23)"`),
		shot("7-dark"),
	); err != nil {
		t.Fatal(err)
	}
	for _, id := range slow[1:] {
		if code, _, errOut := herdJobs(t, api, "cancel", id); code != 0 {
			t.Errorf("cancel %s: exit %d %s", id, code, errOut)
		}
	}
	stopHerd(t, demo)
}

// A jobs API URL that is not one is refused before the daemon starts,
// from the flag and from HERD_JOBS_URL alike.
func TestDaemonJobsURLRefused(t *testing.T) {
	env := daemonEnv(t, t.TempDir())
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"daemon", "--dashboard", "127.0.0.1:0", "--jobs-url", "127.0.0.1:3000"}},
		{[]string{"HERD_JOBS_URL=127.0.0.1:3000"}, []string{"daemon", "--dashboard", "127.0.0.1:0"}},
	} {
		code, _, errOut := herdCmd(t, append(env[:len(env):len(env)], c.env...), c.args...)
		if code != 2 || !strings.Contains(errOut, `jobs API URL "127.0.0.1:3000"`) || !strings.Contains(errOut, "such as http://127.0.0.1:3000") {
			t.Errorf("%v %v: exit %d, %s", c.env, c.args, code, errOut)
		}
	}
}
