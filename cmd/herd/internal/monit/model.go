package monit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
)

// rowKey names a row of the table: an app, or one instance of it.
type rowKey struct {
	app  string
	slot int // -1 for the app's own row
}

// action is what a confirmed key does to an app.
type action struct {
	verb   string // the daemon's action: restart, reload, stop, scale
	arg    string // scale's argument
	app    string
	prompt string // the question, without "y/n"
	done   string // the past tense, for the status line
}

// Messages of the program.
type (
	tickMsg    struct{}
	refreshMsg struct{} // an event: list again now
	listMsg    struct {
		l   daemon.List
		err error
	}
	logMsg struct {
		gen   int
		lines []daemon.LogLine
		err   error // the stream ended with this error
	}
	actionMsg struct {
		a   action
		rs  daemon.Results
		err error
	}
)

// maxLogLines is the number of log lines the pane keeps.
const maxLogLines = 500

// model is the state of the view. Update and View run on bubbletea's one
// event loop; the streams' goroutines reach it only through messages.
type model struct {
	ctx      context.Context
	c        *daemon.Client
	interval time.Duration
	noColor  bool
	st       styles
	streams  *streams

	width, height int
	apps          []daemon.AppInfo
	listErr       error
	listedAt      time.Time
	fetching      bool
	again         bool // a refresh came during a fetch
	hist          History

	sel      rowKey
	offset   int // the first table row shown
	expanded map[string]bool

	filter    string
	filtering bool
	help      bool
	confirm   *action

	logsOn   bool
	logApp   string
	logGen   int
	logs     []daemon.LogLine
	logErr   error
	status   string
	statusOK bool
}

func newModel(ctx context.Context, o Options) *model {
	return &model{ctx: ctx, c: o.Client, interval: o.Interval, noColor: o.NoColor, st: newStyles(o.NoColor),
		width: 80, height: 24, expanded: map[string]bool{}, logsOn: !o.NoLogs, hist: History{Len: DefaultHistory},
		sel: rowKey{slot: -1}}
}

// Init lists the apps at once.
func (m *model) Init() tea.Cmd {
	m.fetching = true
	return tea.Batch(m.fetch(), m.tick())
}

func (m *model) tick() tea.Cmd {
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{} })
}

func (m *model) fetch() tea.Cmd {
	c, ctx := m.c, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		l, err := c.List(ctx)
		return listMsg{l: l, err: err}
	}
}

// refresh lists the apps now, or once the list under way has answered.
func (m *model) refresh() tea.Cmd {
	if m.fetching {
		m.again = true
		return nil
	}
	m.fetching = true
	return m.fetch()
}

// Update handles one message.
func (m *model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tickMsg:
		return m, tea.Batch(m.refresh(), m.tick())
	case refreshMsg:
		return m, m.refresh()
	case listMsg:
		m.fetching = false
		m.setList(msg.l, msg.err)
		var cmd tea.Cmd
		if m.again {
			m.again = false
			cmd = m.refresh()
		}
		m.followLogs()
		return m, cmd
	case logMsg:
		if msg.gen != m.logGen {
			return m, nil // a stream of another app
		}
		m.logs = append(m.logs, msg.lines...)
		if len(m.logs) > maxLogLines {
			m.logs = append(m.logs[:0:0], m.logs[len(m.logs)-maxLogLines:]...)
		}
		if msg.err != nil {
			m.logErr = msg.err
		} else if len(msg.lines) > 0 {
			m.logErr = nil
		}
		return m, nil
	case actionMsg:
		m.status, m.statusOK = actionResult(msg), msg.err == nil && allOK(msg.rs)
		return m, m.refresh()
	case tea.KeyPressMsg:
		return m, m.key(msg)
	}
	return m, nil
}

func allOK(rs daemon.Results) bool {
	for _, r := range rs.Results {
		if !r.OK {
			return false
		}
	}
	return true
}

// actionResult is the status line after an action.
func actionResult(msg actionMsg) string {
	if msg.err != nil {
		return fmt.Sprintf("%s %s: %v", msg.a.verb, msg.a.app, msg.err)
	}
	var errs []string
	for _, r := range msg.rs.Results {
		if !r.OK {
			errs = append(errs, r.Error)
		}
	}
	if len(errs) > 0 {
		return strings.Join(errs, "; ")
	}
	return msg.a.done + " " + msg.a.app
}

// setList takes a new list: samples for the sparklines, and a selection
// that follows its row (or the row now at its place).
func (m *model) setList(l daemon.List, err error) {
	m.listErr = err
	if err != nil {
		return
	}
	m.apps, m.listedAt = l.Apps, time.Now()
	live := map[string]bool{}
	for _, a := range l.Apps {
		m.hist.Add(a.Name, a.Memory)
		live[a.Name] = true
		for _, in := range a.Live {
			k := instKey(a.Name, in.Slot)
			m.hist.Add(k, in.Memory)
			live[k] = true
		}
	}
	m.hist.Keep(func(k string) bool { return live[k] })
	m.fixSelection()
}

func instKey(app string, slot int) string { return app + "\x00" + strconv.Itoa(slot) }

// visible returns the apps that pass the filter.
func (m *model) visible() []daemon.AppInfo {
	if m.filter == "" {
		return m.apps
	}
	var out []daemon.AppInfo
	f := strings.ToLower(m.filter)
	for _, a := range m.apps {
		if strings.Contains(strings.ToLower(a.Name), f) || strings.Contains(a.Status, f) {
			out = append(out, a)
		}
	}
	return out
}

// rows returns the table's rows in order.
func (m *model) rows() []rowKey {
	var out []rowKey
	for _, a := range m.visible() {
		out = append(out, rowKey{app: a.Name, slot: -1})
		if m.expanded[a.Name] {
			for _, in := range a.Live {
				out = append(out, rowKey{app: a.Name, slot: in.Slot})
			}
		}
	}
	return out
}

// selIndex returns the index of the selected row, or -1.
func (m *model) selIndex(rows []rowKey) int {
	for i, r := range rows {
		if r == m.sel {
			return i
		}
	}
	return -1
}

// fixSelection keeps the selection on a row that exists: its instance's
// app if the instance went, else the first row.
func (m *model) fixSelection() {
	rows := m.rows()
	if m.selIndex(rows) >= 0 {
		return
	}
	for _, r := range rows {
		if r.app == m.sel.app {
			m.sel = r
			return
		}
	}
	if len(rows) > 0 {
		m.sel = rows[0]
	} else {
		m.sel = rowKey{slot: -1}
	}
}

// selected returns the selected app, if any.
func (m *model) selected() (daemon.AppInfo, bool) {
	for _, a := range m.apps {
		if a.Name == m.sel.app {
			return a, true
		}
	}
	return daemon.AppInfo{}, false
}

func (m *model) move(d int) {
	rows := m.rows()
	if len(rows) == 0 {
		return
	}
	i := m.selIndex(rows) + d
	m.sel = rows[max(0, min(len(rows)-1, i))]
	m.followLogs()
}

// followLogs points the log pane at the selected app.
func (m *model) followLogs() {
	app := m.sel.app
	if !m.logsOn {
		app = ""
	}
	if app == m.logApp {
		return
	}
	m.logApp, m.logs, m.logErr = app, nil, nil
	if m.streams == nil {
		return
	}
	if app == "" {
		m.streams.stopLogs()
		m.logGen = -1
		return
	}
	m.logGen = m.streams.followLogs(app, max(m.logRows(), 20))
}

// key handles a key press.
func (m *model) key(k tea.KeyPressMsg) tea.Cmd {
	s := k.String()
	if m.confirm != nil {
		a := *m.confirm
		m.confirm = nil
		if s == "y" || s == "Y" || s == "enter" {
			m.status, m.statusOK = a.prompt+"…", true
			return m.run(a)
		}
		m.status, m.statusOK = "cancelled", true
		return nil
	}
	if m.filtering {
		switch s {
		case "enter":
			m.filtering = false
		case "esc", "ctrl+c":
			m.filtering, m.filter = false, ""
		case "backspace":
			if r := []rune(m.filter); len(r) > 0 {
				m.filter = string(r[:len(r)-1])
			}
		default:
			if k.Text != "" {
				m.filter += k.Text
			}
		}
		m.fixSelection()
		m.followLogs()
		return nil
	}
	if m.help {
		m.help = false
		if s != "q" && s != "ctrl+c" {
			return nil
		}
	}
	switch s {
	case "q", "ctrl+c":
		return tea.Quit
	case "?":
		m.help = true
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "home", "g":
		m.move(-1 << 20)
	case "end", "G":
		m.move(1 << 20)
	case "enter", "space", "right", "left", "tab":
		if m.sel.app == "" {
			return nil
		}
		open := !m.expanded[m.sel.app]
		switch s {
		case "right":
			open = true
		case "left":
			open = false
		}
		m.expanded[m.sel.app] = open
		if !open {
			m.sel.slot = -1
		}
	case "/":
		m.filtering = true
	case "esc":
		m.filter = ""
		m.fixSelection()
		m.followLogs()
	case "l":
		m.logsOn = !m.logsOn
		m.followLogs()
	case "r", "R", "s", "+", "=", "-":
		a, ok := m.selected()
		if !ok {
			return nil
		}
		m.confirm = actionFor(s, a)
	}
	return nil
}

// actionFor returns the action of key on app a.
func actionFor(key string, a daemon.AppInfo) *action {
	n := a.Name
	switch key {
	case "r":
		if a.Status == daemon.StatusStopped || a.Status == daemon.StatusErrored {
			return &action{verb: "restart", app: n, prompt: "start " + n, done: "started"}
		}
		return &action{verb: "restart", app: n, prompt: fmt.Sprintf("restart %s (all %d instances at once)", n, a.Instances), done: "restarted"}
	case "R":
		return &action{verb: "reload", app: n, prompt: fmt.Sprintf("reload %s (one instance at a time)", n), done: "reloaded"}
	case "s":
		if a.Status == daemon.StatusStopped || a.Status == daemon.StatusErrored {
			return &action{verb: "restart", app: n, prompt: "start " + n, done: "started"}
		}
		return &action{verb: "stop", app: n, prompt: "stop " + n, done: "stopped"}
	case "+", "=":
		return &action{verb: "scale", arg: "+1", app: n, prompt: fmt.Sprintf("scale %s up to %d instances", n, a.Instances+1), done: "scaled"}
	case "-":
		return &action{verb: "scale", arg: "-1", app: n, prompt: fmt.Sprintf("scale %s down to %d instances", n, a.Instances-1), done: "scaled"}
	}
	return nil
}

// run sends a confirmed action to the daemon.
func (m *model) run(a action) tea.Cmd {
	c, ctx := m.c, m.ctx
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		rs, err := c.Action(ctx, a.app, a.verb, daemon.ActionRequest{Instances: a.arg})
		return actionMsg{a: a, rs: rs, err: err}
	}
}
