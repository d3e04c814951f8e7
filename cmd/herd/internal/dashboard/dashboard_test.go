package dashboard

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// LoadToken makes a 0600 token once and reads the same one after; a token
// file others can read, or that holds no token, is refused by name.
func TestLoadToken(t *testing.T) {
	p := filepath.Join(t.TempDir(), TokenFile)
	a, err := LoadToken(p)
	if err != nil || len(a) != 64 {
		t.Fatalf("first: %q %v", a, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	if b, err := LoadToken(p); err != nil || b != a {
		t.Fatalf("second: %q %v, want %q", b, err, a)
	}
	os.Chmod(p, 0o644)
	if _, err := LoadToken(p); err == nil || !strings.Contains(err.Error(), "chmod 600 "+p) {
		t.Fatalf("0644: %v", err)
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("short\n"), 0o600)
	if _, err := LoadToken(p); err == nil || !strings.Contains(err.Error(), "not a dashboard token") {
		t.Fatalf("short: %v", err)
	}
}

func TestCheckAddr(t *testing.T) {
	for _, a := range []string{"127.0.0.1:9596", "[::1]:0", "localhost:9596"} {
		if err := CheckAddr(a); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	for _, a := range []string{":9596", "0.0.0.0:9596", "192.0.2.1:80", "127.0.0.1", "127.0.0.1:99999"} {
		if err := CheckAddr(a); err == nil || !strings.Contains(err.Error(), "such as 127.0.0.1:9596") {
			t.Errorf("%s: %v", a, err)
		}
	}
}

// The guard, without a daemon: each refusal is made before any call to it.
func TestGuard(t *testing.T) {
	tok := strings.Repeat("ab", 32)
	s := New(Config{Token: tok})
	srv := httptest.NewServer(nil)
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Config.Handler = s.Handler(addr)
	do := func(method, path string, hdr map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	bearer := map[string]string{"Authorization": "Bearer " + tok}
	for _, c := range []struct {
		name, method, path string
		hdr                map[string]string
		want               int
	}{
		{"no token", "GET", "/", nil, 401},
		{"no token, api", "GET", "/api/history", nil, 401},
		{"wrong token in the URL", "GET", "/?token=x", nil, 401},
		{"token in the URL", "GET", "/?token=" + tok, nil, 303},
		{"bearer", "GET", "/api/history", bearer, 200},
		{"page", "GET", "/", bearer, 200},
		{"asset", "GET", "/assets/app.js", bearer, 200},
		{"cookie", "GET", "/api/history", map[string]string{"Cookie": cookieName + "=" + tok}, 200},
		{"other Host", "GET", "/", map[string]string{"Authorization": "Bearer " + tok, "Host": "evil.example"}, 421},
		{"POST without CSRF", "POST", "/api/apps/a/stop", bearer, 403},
		{"POST from another origin", "POST", "/api/apps/a/stop", map[string]string{"Authorization": "Bearer " + tok, "X-Herd-CSRF": csrfFor(tok), "Origin": "http://evil.example"}, 403},
		{"unknown action", "POST", "/api/apps/a/explode", map[string]string{"Authorization": "Bearer " + tok, "X-Herd-CSRF": csrfFor(tok)}, 404},
	} {
		if resp := do(c.method, c.path, c.hdr); resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.want)
		} else if c.want == 303 {
			ck := resp.Cookies()
			if len(ck) != 1 || ck[0].Value != tok || !ck[0].HttpOnly || ck[0].SameSite != http.SameSiteStrictMode {
				t.Errorf("%s: cookie %+v", c.name, ck)
			}
		}
	}
}

// CheckAddr never panics, and what it accepts is a loopback host and a
// port that net.Listen takes.
func FuzzCheckAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:9596", "[::1]:0", "localhost:1", ":80", "0.0.0.0:1", "[::]:1", "127.0.0.1:-1", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		if CheckAddr(addr) != nil {
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			t.Fatalf("%q accepted: %v", addr, err)
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			t.Fatalf("%q accepted with host %q", addr, host)
		}
	})
}

// Each page comes whole in one response, with its length: its stylesheet
// and script inline, each allowed by its hash in the
// Content-Security-Policy and by nothing else inline.
func TestPagesInline(t *testing.T) {
	tok := strings.Repeat("ab", 32)
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = New(Config{Token: tok, Jobs: &jobsclient.Client{URL: "http://127.0.0.1:1"}}).Handler(srv.Listener.Addr().String())
	srv.Start()
	defer srv.Close()
	inner := func(page, open, close string) string {
		i := strings.Index(page, open)
		j := strings.Index(page[i+len(open):], close)
		if i < 0 || j < 0 {
			t.Fatalf("no %s...%s in the page", open, close)
		}
		return page[i+len(open) : i+len(open)+j]
	}
	for _, path := range []string{"/", "/jobs"} {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page, csp := string(b), resp.Header.Get("Content-Security-Policy")
		if resp.ContentLength != int64(len(b)) || len(resp.TransferEncoding) > 0 {
			t.Errorf("GET %s: Content-Length %d, Transfer-Encoding %q for %d bytes: want the page in one piece", path, resp.ContentLength, resp.TransferEncoding, len(b))
		}
		if resp.StatusCode != 200 || strings.Contains(page, `src="/assets/`) || strings.Contains(page, `href="/assets/`) || strings.Contains(page, "{{") {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, page)
		}
		script := inner(page[strings.LastIndex(page, "<script>"):], "<script>", "</script>")
		style := inner(page, "<style>", "</style>")
		want := "default-src 'self'; img-src 'self' data:; style-src 'self' " + hash(style) + "; script-src 'self' " + hash(script) + "; connect-src 'self'"
		if csp != want || !strings.Contains(script, `"use strict"`) || !strings.Contains(style, "--bg") {
			t.Errorf("GET %s: CSP %q, want %q", path, csp, want)
		}
		// The shared header and script, then the page's own script.
		own := map[string]string{"/": "// herd dashboard: the apps page.", "/jobs": "// herd dashboard: the jobs page."}[path]
		if c, o := strings.Index(script, "const herd = "), strings.Index(script, own); c < 0 || o < c {
			t.Errorf("GET %s: the script is not common.js then the page's own (at %d and %d)", path, c, o)
		}
		current := map[string]string{"/": `<a href="/" aria-current="page">Apps</a> <a href="/jobs">Jobs</a>`,
			"/jobs": `<a href="/">Apps</a> <a href="/jobs" aria-current="page">Jobs</a>`}[path]
		if strings.Count(page, "<header>") != 1 || !strings.Contains(page, "<nav>"+current+"</nav>") || strings.Count(page, `id="confirm-yes"`) != 1 {
			t.Errorf("GET %s: no one header with <nav>%s</nav> and one confirmation\n%s", path, current, page)
		}
	}
}

// The apps page comes with its first view drawn in the HTML, from the
// last list: a row per app with its actions, a row per instance with an
// empty charts cell; every name escaped, and a name that looks like a
// placeholder left as it is. Before the first list, the table is empty
// and the note about no apps hidden; with no apps, it shows.
func TestAppsFirstView(t *testing.T) {
	tok := strings.Repeat("ab", 32)
	s := New(Config{Token: tok})
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.Handler = s.Handler(srv.Listener.Addr().String())
	srv.Start()
	defer srv.Close()
	get := func() string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	if page := get(); !strings.Contains(page, "<tbody></tbody>") || !strings.Contains(page, `<p id="empty" class="muted" hidden>`) ||
		!strings.Contains(page, `{"apps":null}`) {
		t.Errorf("before the first list:\n%s", page)
	}
	s.publish(daemon.List{})
	if page := get(); !strings.Contains(page, "<tbody></tbody>") || !strings.Contains(page, `<p id="empty" class="muted">`) {
		t.Errorf("no apps:\n%s", page)
	}
	odd := `<b>"x"&{{CSRF}}`
	s.publish(daemon.List{Apps: []daemon.AppInfo{
		{Name: "web", Instances: 2, Status: daemon.StatusOnline, UptimeMS: 3723_000, Restarts: 1, CPU: 12.34, Memory: 50 << 20,
			Live: []daemon.Instance{{Slot: 0, PID: 101, State: "ready", UptimeMS: 59_000, CPU: 12.34, Memory: 25 << 20},
				{Slot: 1, PID: 102, State: "ready", UptimeMS: 200_000_000, Memory: 1536}}},
		{Name: odd, Instances: 1, Status: daemon.StatusErrored, Error: "exit 1 <3", Memory: 3 << 30},
	}})
	page := get()
	for _, want := range []string{
		`<tbody><tr data-app="web" class="app"><td class="name">web</td><td class="status st-online">online</td><td class="inst num">2/2</td>` +
			`<td class="uptime num">1h02m</td><td class="restarts num">1</td><td class="cpu num">12.3%</td><td class="mem num">50.0 MiB</td><td></td>` +
			`<td class="actions"><button type="button" title="restart web">Restart</button><button type="button" title="rolling reload of web">Reload</button>` +
			`<button type="button" title="stop web">Stop</button><button type="button" title="one instance more">+</button>` +
			`<button type="button" title="one instance less">−</button><button type="button" title="show the logs of web">Logs</button></td></tr>`,
		`<tr data-app="web" data-slot="0" class="inst"><td class="name">#0 pid 101</td><td class="status st-ready">ready</td><td></td>` +
			`<td class="uptime num">59s</td><td class="restarts num">0</td><td class="cpu num">12.3%</td><td class="mem num">25.0 MiB</td><td class="charts"></td><td></td></tr>`,
		`<td class="uptime num">2d</td><td class="restarts num">0</td><td class="cpu num">0.0%</td><td class="mem num">1.5 KiB</td>`,
		`<tr data-app="&lt;b&gt;&#34;x&#34;&amp;{{CSRF}}" class="app"><td class="name">&lt;b&gt;&#34;x&#34;&amp;{{CSRF}}</td>` +
			`<td class="status st-errored">errored: exit 1 &lt;3</td><td class="inst num">0/1</td><td class="uptime num">-</td>`,
		`<td class="mem num">3.0 GiB</td>`, `<button type="button" title="start &lt;b&gt;&#34;x&#34;&amp;{{CSRF}}">Start</button>`,
		`<p id="empty" class="muted" hidden>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("no %s in\n%s", want, page)
		}
	}
	if strings.Contains(page, "<b>") {
		t.Errorf("a name unescaped:\n%s", page)
	}
}
