package dashboard

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// page is an HTML page of the assets made ready to serve: the shared
// header (assets/header.html) in place of {{HEADER}}, its stylesheet and
// its scripts inline, so that one response is all the browser needs to
// paint it (the first paint waits for no other request), and the
// Content-Security-Policy that allows exactly that stylesheet and script.
type page struct {
	html, csp string
	holes     []string // the placeholders in html, such as {{ROWS}}
}

var (
	pagesOnce sync.Once
	pages     map[string]page
	pagesErr  error
)

// stylesheet and scriptTag are how a page of the assets names its
// stylesheet and its scripts (common.js, then its own); the scripts run
// at the end of the body, in order, once inline, where deferred ones
// would run.
var (
	stylesheet = `<link rel="stylesheet" href="/assets/style.css">`
	scriptTag  = regexp.MustCompile(`<script src="/assets/([a-z]+\.js)" defer></script>\n?`)
	// placeholder is what servePage fills in.
	placeholder = regexp.MustCompile(`\{\{[A-Z_]+\}\}`)
)

// pageNames are the pages of the assets, served by servePage.
var pageNames = []string{"index.html", "jobs.html"}

// loadPages makes every page of the assets ready, once.
func loadPages() (map[string]page, error) {
	pagesOnce.Do(func() {
		pages = map[string]page{}
		css, err := assets.ReadFile("assets/style.css")
		if err != nil {
			pagesErr = err
			return
		}
		header, err := assets.ReadFile("assets/header.html")
		if err != nil {
			pagesErr = err
			return
		}
		for _, name := range pageNames {
			p, err := inline(name, string(css), string(header))
			if err != nil {
				pagesErr = err
				return
			}
			pages[name] = p
		}
	})
	return pages, pagesErr
}

func inline(name, css, header string) (page, error) {
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return page{}, err
	}
	html := string(b)
	tags := scriptTag.FindAllStringSubmatch(html, -1)
	if len(tags) == 0 || !strings.Contains(html, stylesheet) || !strings.Contains(html, "</body>") || !strings.Contains(html, "{{HEADER}}") {
		return page{}, fmt.Errorf("dashboard: assets/%s names no stylesheet, script, {{HEADER}} or body end as the server expects", name)
	}
	var js strings.Builder
	for _, m := range tags {
		b, err := assets.ReadFile("assets/" + m[1])
		if err != nil {
			return page{}, err
		}
		for _, bad := range []string{"</", "{{"} {
			if strings.Contains(string(b), bad) {
				return page{}, fmt.Errorf("dashboard: assets/%s holds %q, which would end its element early or be taken for a placeholder", m[1], bad)
			}
		}
		js.Write(b)
		html = strings.Replace(html, m[0], "", 1)
	}
	for _, bad := range []string{"</", "{{"} {
		if strings.Contains(css, bad) {
			return page{}, fmt.Errorf("dashboard: assets/style.css holds %q, which would end its element early or be taken for a placeholder", bad)
		}
	}
	html = strings.Replace(html, "{{HEADER}}", strings.TrimSuffix(header, "\n"), 1)
	html = strings.Replace(html, stylesheet, "<style>"+css+"</style>", 1)
	html = strings.Replace(html, "</body>", "<script>"+js.String()+"</script>\n</body>", 1)
	return page{html: html, holes: placeholder.FindAllString(html, -1), csp: "default-src 'self'; img-src 'self' data:; style-src 'self' " + hash(css) +
		"; script-src 'self' " + hash(js.String()) + "; connect-src 'self'"}, nil
}

// hash is the CSP source of an inline element's text.
func hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"
}

// servePage writes the page name with its CSRF value and the jobs link,
// and the values of fill (such as {{ROWS}}: the rows of its first view,
// drawn here so that its first paint waits for no script) and its
// initial data in place of their placeholders. The placeholders are
// replaced in one pass, so that no value (an app's name, say) is taken
// for another placeholder; encoding/json escapes <, > and &, so the data
// cannot end its script element, and fill's values are escaped HTML.
func (s *Server) servePage(w http.ResponseWriter, name string, initial []byte, fill map[string]string) {
	ps, err := loadPages()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	p := ps[name]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", p.csp)
	// The inline stylesheet and script hold no placeholder (inline
	// checks), so only the page's own are replaced.
	pairs := make([]string, 0, 2*len(p.holes))
	for _, h := range p.holes {
		v := fill[h[2:len(h)-2]] // none: empty
		switch h {
		case "{{CSRF}}":
			v = csrfFor(s.cfg.Token)
		case "{{NAV}}":
			v = s.nav(name)
		case "{{INITIAL}}":
			v = string(initial)
		}
		pairs = append(pairs, h, v)
	}
	// One write with its length: the browser gets the page in one piece,
	// not in chunks of the response's buffer.
	var b strings.Builder
	b.Grow(len(p.html) + 16<<10)
	_, _ = strings.NewReplacer(pairs...).WriteString(&b, p.html)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	_, _ = io.WriteString(w, b.String())
}

// nav is the header's links, the page name's marked as the current one;
// without the jobs API, the jobs link says how to enable it.
func (s *Server) nav(name string) string {
	current := func(page string) string {
		if page == name {
			return ` aria-current="page"`
		}
		return ""
	}
	jobs := `<span class="muted" title="give the daemon the jobs API's URL: herd daemon --jobs-url URL, or HERD_JOBS_URL">Jobs: not enabled</span>`
	if s.cfg.Jobs != nil {
		jobs = `<a href="/jobs"` + current("jobs.html") + `>Jobs</a>`
	}
	return `<a href="/"` + current("index.html") + `>Apps</a> ` + jobs
}
