// Package dashboard is the web view of the daemon's apps that `herd daemon
// --dashboard ADDR` serves: an apps page kept live over Server-Sent Events,
// with CPU and memory charts per instance, restart, reload, stop, start and
// scale actions, and the selected app's log tail with a filter; and, when
// Config.Jobs names a jobs HTTP API (herd daemon --jobs-url, or
// HERD_JOBS_URL as for herd jobs), a jobs page: its queues, its jobs by
// state with filters, a job's detail, cancel and retry.
//
// The model:
//
//	browser ──GET /?token=T──▶ cookie herd_token (HttpOnly, SameSite=Strict) ──303──▶ /
//	        ──GET /──▶ the apps page, the last list drawn and inline
//	        ──GET /api/stream (SSE)──▶ "history" once, then "apps" every Interval
//	                                   and at each event of the daemon
//	        ──GET /api/logs?app=NAME (SSE)──▶ "line" per log line
//	        ──POST /api/apps/NAME/ACTION + X-Herd-CSRF──▶ daemon.Client.Action
//	        ──GET /jobs──▶ the jobs page, the queues and a page of jobs drawn
//	                                   and inline
//	        ──GET /api/jobs/stream?state=&queue=&kind=&cursor= (SSE)──▶ "jobs"
//	                                   when the queues or the page change
//	        ──GET /api/jobs/ID/events (SSE)──▶ "job" per change, then "end"
//	        ──POST /api/jobs/ID/cancel|retry + X-Herd-CSRF──▶ jobsclient.Client
//	Server ──daemon.Client (the control socket)──▶ the daemon
//	       ──jobsclient.Client (HTTP)──▶ the jobs API (Stats + List every
//	                                   JobsInterval per open jobs page)
//	sampler: List every Interval -> a ring of Samples per instance (the charts)
//
// First paint: each page comes whole in one response (its stylesheet and
// script inline, allowed by their hashes in the Content-Security-Policy)
// with its first view drawn in the HTML by the server (render.go): the
// apps and their instances from the last list, or the queues, the state
// buttons and a page of jobs. The browser paints that without running a
// script; the page's script then draws the same rows again from the data
// inline in the page, now with their actions, and opens its stream, once
// that first paint is on the screen. With scripts off, the page still
// shows its first view.
//
// The server talks to the daemon only through its Client, as the herd
// commands do, so it runs in the daemon's process (herd daemon starts it)
// without reaching into the daemon's state. Likewise it reaches the jobs
// only through the jobs HTTP API, as herd jobs does: the daemon runs no
// jobs engine, and the page shows whatever serves jobs/jobshttp. The
// browser talks only to the dashboard, so the token and CSRF guard cover
// the jobs' actions too, and the list it gets carries no args or results
// (the detail shows them, cut at 16 KiB).
//
// Security: every request needs the token (the cookie, or Authorization:
// Bearer TOKEN for scripts and Prometheus), created once in
// $HERD_HOME/dashboard.token (0600) and printed by `herd dashboard`. A
// POST also needs the header X-Herd-CSRF, a value derived from the token
// that only the served page holds, and an Origin, if sent, of the
// dashboard itself; the Host header must name the listener (no DNS
// rebinding). The assets are embedded (go:embed): no CDN, no build step.
package dashboard
