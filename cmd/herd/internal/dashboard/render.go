package dashboard

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/jobs"
)

// The first view of each page is drawn here, as HTML in the page, so that
// its first paint shows the apps or the jobs without waiting for a
// script: the page's script, which runs once that paint is out, draws
// the same rows again from the same data (with their actions), and then
// keeps them live. Each function here mirrors the one of
// assets/app.js or assets/jobs.js named in its comment; the markup is
// the same, so the redraw moves nothing. Every text is escaped.

// esc escapes s for HTML text and for an attribute value in double quotes.
func esc(s string) string { return html.EscapeString(s) }

// hidden is the attribute that hides an element when h.
func hidden(h bool) string {
	if h {
		return " hidden"
	}
	return ""
}

// appDur is app.js's dur: a duration in ms as "-", 42s, 3m07s, 5h02m or 4d.
func appDur(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	if s := ms / 1000; s < 60 {
		return strconv.FormatInt(s, 10) + "s"
	}
	return longDur(ms / 1000)
}

// longDur is what the scripts' dur write for s seconds, a minute or more:
// 3m07s, 5h02m or 4d.
func longDur(s int64) string {
	switch {
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 172800:
		return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
	}
	return strconv.FormatInt(s/86400, 10) + "d"
}

// appBytes is app.js's bytes: 12.3 MiB.
func appBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

func percent(cpu float64) string { return strconv.FormatFloat(cpu, 'f', 1, 64) + "%" }

// appRows is app.js's render: a row per app, then one per live instance.
// An instance's charts cell is empty: the charts need the history, which
// the stream sends first.
func appRows(apps []daemon.AppInfo) string {
	var b strings.Builder
	td := func(class, text string) {
		if class == "" {
			b.WriteString("<td>" + esc(text) + "</td>")
			return
		}
		b.WriteString(`<td class="` + class + `">` + esc(text) + "</td>")
	}
	button := func(label, title string) {
		b.WriteString(`<button type="button" title="` + esc(title) + `">` + esc(label) + "</button>")
	}
	for _, a := range apps {
		name := esc(a.Name)
		b.WriteString(`<tr data-app="` + name + `" class="app">`)
		td("name", a.Name)
		status := a.Status
		if a.Error != "" {
			status += ": " + a.Error
		}
		td("status st-"+esc(a.Status), status)
		td("inst num", strconv.Itoa(len(a.Live))+"/"+strconv.Itoa(a.Instances))
		td("uptime num", appDur(a.UptimeMS))
		td("restarts num", strconv.Itoa(a.Restarts))
		td("cpu num", percent(a.CPU))
		td("mem num", appBytes(a.Memory))
		td("", "")
		b.WriteString(`<td class="actions">`)
		button("Restart", "restart "+a.Name)
		button("Reload", "rolling reload of "+a.Name)
		if a.Status == daemon.StatusStopped || a.Status == daemon.StatusErrored {
			button("Start", "start "+a.Name)
		} else {
			button("Stop", "stop "+a.Name)
		}
		button("+", "one instance more")
		button("−", "one instance less")
		button("Logs", "show the logs of "+a.Name)
		b.WriteString("</td></tr>")
		for _, in := range a.Live {
			b.WriteString(`<tr data-app="` + name + `" data-slot="` + strconv.Itoa(in.Slot) + `" class="inst">`)
			td("name", "#"+strconv.Itoa(in.Slot)+" pid "+strconv.Itoa(in.PID))
			td("status st-"+esc(in.State), in.State)
			td("", "")
			td("uptime num", appDur(in.UptimeMS))
			td("restarts num", strconv.Itoa(in.Restarts))
			td("cpu num", percent(in.CPU))
			td("mem num", appBytes(in.Memory))
			td("charts", "")
			td("", "")
			b.WriteString("</tr>")
		}
	}
	return b.String()
}

// jobsDur is jobs.js's dur: 850ms, 4.2s, 3m07s, 5h02m or 4d.
func jobsDur(ms int64) string {
	if ms < 1000 {
		return strconv.FormatInt(ms, 10) + "ms"
	}
	if ms < 60000 {
		return strconv.FormatFloat(float64(ms)/1000, 'f', 1, 64) + "s"
	}
	return longDur(ms / 1000)
}

// when is jobs.js's when, in the server's time zone (the script writes
// the browser's locale when it draws the rows again).
func when(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).Format("2006-01-02 15:04:05")
}

// jobStates are the states the jobs page filters on, in jobs.js's order.
var jobStates = []jobs.State{jobs.StateQueued, jobs.StateScheduled, jobs.StateRunning, jobs.StateRetrying,
	jobs.StateSucceeded, jobs.StateFailed, jobs.StateCancelled}

// jobsView is the first view of the jobs page for filter f (jobs.js's
// drawStates, drawQueueOptions, drawQueues, drawJobs and drawOrder): the
// values of the page's placeholders. ev is nil when the jobs API did not
// answer in time; the page then waits for its stream.
func jobsView(f jobs.Filter, ev *jobsEvent, now time.Time) map[string]string {
	v := map[string]string{"KIND": esc(f.Kind), "ORDER": "Newest first", "ORDER_TITLE": "list the oldest jobs first",
		"FIRST": hidden(f.Cursor == ""), "NEXT": hidden(ev == nil || ev.Next == ""),
		"NO_QUEUES": hidden(ev == nil || len(ev.Queues) > 0), "NO_JOBS": hidden(ev == nil || len(ev.Jobs) > 0)}
	if !f.Newest {
		v["ORDER"], v["ORDER_TITLE"] = "Oldest first", "list the newest jobs first"
	}
	var queues []jobs.QueueStats
	if ev != nil {
		queues = ev.Queues
	}

	// The state buttons, with the counts of the queues.
	counts := map[jobs.State]uint64{}
	for _, q := range queues {
		counts[jobs.StateQueued] += uint64(q.Depth)
		counts[jobs.StateScheduled] += uint64(q.Scheduled)
		counts[jobs.StateSucceeded] += q.Succeeded
		counts[jobs.StateFailed] += q.Failed
		counts[jobs.StateCancelled] += q.Cancelled
	}
	var b strings.Builder
	for _, st := range append([]jobs.State{""}, jobStates...) {
		label, title := string(st), "show the "+string(st)+" jobs"
		if st == "" {
			label, title = "all", "show every job"
		}
		if n, ok := counts[st]; ok {
			label += " " + strconv.FormatUint(n, 10)
		}
		fmt.Fprintf(&b, `<button type="button" title="%s" data-state="%s" aria-pressed="%t">%s</button>`,
			esc(title), esc(string(st)), f.State == st, esc(label))
	}
	v["STATES"] = b.String()

	// The queue options: every queue, and the filter's even if unknown.
	b.Reset()
	b.WriteString(`<option value="">all</option>`)
	known := false
	for _, q := range queues {
		known = known || q.Queue == f.Queue
		sel := ""
		if q.Queue == f.Queue {
			sel = " selected"
		}
		b.WriteString(`<option value="` + esc(q.Queue) + `"` + sel + ">" + esc(q.Queue) + "</option>")
	}
	if f.Queue != "" && !known {
		b.WriteString(`<option value="` + esc(f.Queue) + `" selected>` + esc(f.Queue) + "</option>")
	}
	v["QUEUE_OPTIONS"] = b.String()

	// The queues.
	b.Reset()
	rate := func(r float64) string {
		if r == 0 {
			return "0"
		}
		return strconv.FormatFloat(r, 'f', 2, 64)
	}
	for _, q := range queues {
		b.WriteString(`<tr data-queue="` + esc(q.Queue) + `"><td class="name">` + esc(q.Queue) + "</td>")
		for _, c := range []struct{ class, text string }{
			{"depth", strconv.Itoa(q.Depth)}, {"scheduled", strconv.Itoa(q.Scheduled)}, {"running", strconv.Itoa(q.Running)},
			{"succeeded", strconv.FormatUint(q.Succeeded, 10)}, {"failed", strconv.FormatUint(q.Failed, 10)},
			{"cancelled", strconv.FormatUint(q.Cancelled, 10)}, {"retried", strconv.FormatUint(q.Retried, 10)},
			{"submit-rate", rate(q.SubmitRate)}, {"complete-rate", rate(q.CompleteRate)},
		} {
			b.WriteString(`<td class="` + c.class + ` num">` + c.text + "</td>")
		}
		b.WriteString("</tr>")
	}
	v["QUEUES"] = b.String()

	// The jobs.
	b.Reset()
	if ev != nil {
		nowMS := now.UnixMilli()
		for _, j := range ev.Jobs {
			id := esc(j.ID)
			fmt.Fprintf(&b, `<tr data-id="%s" data-state="%s"><td><button type="button" title="show job %s" class="link id">%s</button></td>`,
				id, esc(string(j.State)), id, id)
			b.WriteString(`<td class="kind">` + esc(j.Kind) + `</td><td class="queue">` + esc(j.Queue) +
				`</td><td class="priority">` + esc(j.Priority) + "</td>")
			title := j.Error
			if title == "" {
				title = j.Note
			}
			state := string(j.State)
			if j.State == jobs.StateScheduled && j.RunAt != 0 {
				state += " for " + when(j.RunAt)
			}
			fmt.Fprintf(&b, `<td class="state st-%s" title="%s">%s</td>`, esc(string(j.State)), esc(title), esc(state))
			fmt.Fprintf(&b, `<td class="attempt num">%d/%d</td>`, j.Attempt, j.MaxAttempts)
			fmt.Fprintf(&b, `<td class="progress"><progress max="1" value="%s"></progress> %d%%</td>`,
				strconv.FormatFloat(j.Progress, 'g', -1, 64), int64(math.Round(j.Progress*100)))
			ago := "-"
			if j.Created != 0 {
				ago = jobsDur(max(0, nowMS-j.Created)) + " ago"
			}
			took := "-"
			if j.Started != 0 {
				end := j.Finished
				if end == 0 {
					end = nowMS
				}
				took = jobsDur(end - j.Started)
			}
			fmt.Fprintf(&b, `<td class="created" title="%s">%s</td><td class="took num">%s</td><td class="actions">`,
				esc(when(j.Created)), esc(ago), esc(took))
			if !j.State.Final() {
				b.WriteString(`<button type="button" title="cancel job ` + id + `">Cancel</button>`)
			}
			if j.State == jobs.StateFailed || j.State == jobs.StateCancelled {
				b.WriteString(`<button type="button" title="retry job ` + id + `">Retry</button>`)
			}
			b.WriteString("</td></tr>")
		}
	}
	v["JOBS"] = b.String()
	return v
}
