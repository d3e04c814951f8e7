package monit

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
)

// styles are the view's looks; with NO_COLOR, only bold and reverse video.
type styles struct {
	title, head, sel, dim, bad, good, warn, errLine lipgloss.Style
}

func newStyles(noColor bool) styles {
	s := lipgloss.NewStyle()
	if noColor {
		return styles{title: s.Bold(true), head: s.Bold(true), sel: s.Reverse(true), dim: s, bad: s.Bold(true), good: s, warn: s, errLine: s}
	}
	return styles{
		title:   s.Bold(true).Foreground(lipgloss.Color("6")),
		head:    s.Bold(true),
		sel:     s.Reverse(true),
		dim:     s.Foreground(lipgloss.Color("8")),
		bad:     s.Bold(true).Foreground(lipgloss.Color("1")),
		good:    s.Foreground(lipgloss.Color("2")),
		warn:    s.Foreground(lipgloss.Color("3")),
		errLine: s.Foreground(lipgloss.Color("1")),
	}
}

// statusStyle colours a status.
func (st styles) status(s string) lipgloss.Style {
	switch s {
	case daemon.StatusOnline, "ready":
		return st.good
	case daemon.StatusErrored:
		return st.bad
	case daemon.StatusStopped, daemon.StatusStopping:
		return st.dim
	}
	return st.warn
}

// columns the table shows at a width: a narrow terminal drops the
// sparkline first, then uptime and restarts, then the id and instances,
// and narrows the name.
type columns struct {
	id, inst, upRst, spark bool
	name, sparkW           int
}

// Widths of the columns, with their separators.
const (
	wID, wStatus, wInst, wUpRst, wCPU, wMem = 4, 10, 6, 15, 7, 8
	wSparkMin                               = 8
)

func layout(width int) columns {
	c := columns{id: true, inst: true, upRst: true, spark: true, name: 16}
	used := func() int {
		n := c.name + 1 + wStatus + wCPU + wMem
		if c.id {
			n += wID
		}
		if c.inst {
			n += wInst
		}
		if c.upRst {
			n += wUpRst
		}
		return n
	}
	if width-used() < 2+wSparkMin {
		c.spark = false
	}
	if used() > width {
		c.upRst = false
	}
	if used() > width {
		c.id, c.inst = false, false
	}
	if used() > width {
		c.name = 12
	}
	if c.spark {
		c.sparkW = min(width-used()-2, 60)
	}
	return c
}

func pad(s string, w int) string {
	s = ansi.Truncate(s, w, "…")
	if n := ansi.StringWidth(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

func padLeft(s string, w int) string {
	s = ansi.Truncate(s, w, "…")
	if n := ansi.StringWidth(s); n < w {
		s = strings.Repeat(" ", w-n) + s
	}
	return s
}

// cells of one row, before styling: id, name, status, inst, uptime,
// restarts, cpu, mem, and the sparkline's key.
type cells struct {
	id, name, status, inst, up, rst, cpu, mem, key string
}

func (m *model) line(c columns, r cells, st lipgloss.Style) string {
	var b strings.Builder
	if c.id {
		b.WriteString(padLeft(r.id, 3) + " ")
	}
	b.WriteString(pad(r.name, c.name) + " ")
	b.WriteString(st.Render(pad(r.status, 9)) + " ")
	if c.inst {
		b.WriteString(padLeft(r.inst, 5) + " ")
	}
	if c.upRst {
		b.WriteString(padLeft(r.up, 6) + " " + padLeft(r.rst, 7) + " ")
	}
	b.WriteString(padLeft(r.cpu, 6) + " " + padLeft(r.mem, 8))
	if c.spark && r.key != "" {
		b.WriteString("  " + m.st.dim.Render(Sparkline(m.hist.Get(r.key), c.sparkW)))
	}
	return b.String()
}

// logRows is the height of the log pane's lines (0 when hidden).
func (m *model) logRows() int {
	if !m.logsOn || m.height < 12 {
		return 0
	}
	return max(3, (m.height-4)/3)
}

// View draws the screen.
func (m *model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "herd monit"
	return v
}

func (m *model) render() string {
	w, h := max(m.width, 20), max(m.height, 5)
	if m.help {
		return clip(m.helpText(), w, h)
	}
	var out []string
	title := m.st.title.Render("herd monit")
	info := fmt.Sprintf(" %d apps", len(m.apps))
	if m.filter != "" || m.filtering {
		info += fmt.Sprintf(" · filter %q", m.filter)
	}
	if !m.listedAt.IsZero() {
		info += " · " + m.listedAt.Format("15:04:05")
	}
	out = append(out, title+info+m.st.dim.Render(" · ? help · q quit"))
	if m.listErr != nil {
		out = append(out, m.st.bad.Render("daemon: "+m.listErr.Error()))
	}
	c := layout(w)
	head := m.line(c, cells{id: "ID", name: "NAME", status: "STATUS", inst: "INST", up: "UPTIME", rst: "RESTART", cpu: "CPU%", mem: "MEM"}, lipgloss.NewStyle())
	if c.spark {
		head += "  MEM (last " + shortDuration(time.Duration(DefaultHistory)*m.interval) + ")"
	}
	out = append(out, m.st.head.Render(pad(head, w)))

	logN := m.logRows()
	tableN := h - len(out) - 1 // the footer
	if logN > 0 {
		tableN -= logN + 1
	}
	rows := m.rows()
	var lines []string
	sel := m.selIndex(rows)
	for _, r := range rows {
		a, _ := m.app(r.app)
		if r.slot < 0 {
			up := "-"
			if a.UptimeMS > 0 {
				up = shortDuration(time.Duration(a.UptimeMS) * time.Millisecond)
			}
			mark := "▸ "
			if m.expanded[a.Name] {
				mark = "▾ "
			}
			lines = append(lines, m.line(c, cells{id: fmt.Sprint(a.ID), name: mark + a.Name, status: a.Status,
				inst: fmt.Sprintf("%d/%d", len(a.Live), a.Instances), up: up, rst: fmt.Sprint(a.Restarts),
				cpu: fmt.Sprintf("%.1f", a.CPU), mem: HumanBytes(a.Memory), key: a.Name}, m.st.status(a.Status)))
			continue
		}
		for _, in := range a.Live {
			if in.Slot != r.slot {
				continue
			}
			lines = append(lines, m.line(c, cells{name: fmt.Sprintf("  #%d pid %d", in.Slot, in.PID), status: in.State,
				up: shortDuration(time.Duration(in.UptimeMS) * time.Millisecond), rst: fmt.Sprint(in.Restarts),
				cpu: fmt.Sprintf("%.1f", in.CPU), mem: HumanBytes(in.Memory), key: instKey(a.Name, in.Slot)}, m.st.status(in.State)))
		}
	}
	if len(rows) == 0 {
		switch {
		case m.listedAt.IsZero():
			lines = append(lines, m.st.dim.Render("asking the daemon…"))
		case len(m.apps) == 0:
			lines = append(lines, m.st.dim.Render("no apps: herd start APP starts one"))
		default:
			lines = append(lines, m.st.dim.Render("no app matches the filter (esc clears it)"))
		}
	}
	// Scroll so that the selection is on screen.
	if sel >= 0 {
		if sel < m.offset {
			m.offset = sel
		}
		if sel >= m.offset+tableN {
			m.offset = sel - tableN + 1
		}
	}
	m.offset = max(0, min(m.offset, len(lines)-tableN))
	for i := 0; i < tableN; i++ {
		j := m.offset + i
		switch {
		case j < len(lines) && j == sel:
			out = append(out, m.st.sel.Render(pad(ansi.Strip(lines[j]), w)))
		case j < len(lines):
			out = append(out, ansi.Truncate(lines[j], w, "…"))
		default:
			out = append(out, "")
		}
	}
	if logN > 0 {
		out = append(out, m.logPane(w, logN)...)
	}
	out = append(out, m.footer(w))
	return clip(strings.Join(out, "\n"), w, h)
}

func (m *model) app(name string) (daemon.AppInfo, bool) {
	for _, a := range m.apps {
		if a.Name == name {
			return a, true
		}
	}
	return daemon.AppInfo{}, false
}

// logPane draws the log pane: a rule with the app's name, then its last
// lines.
func (m *model) logPane(w, n int) []string {
	name := m.logApp
	if name == "" {
		name = "no app selected"
	}
	rule := "── logs: " + name + " "
	if m.logErr != nil {
		rule += "(" + m.logErr.Error() + ") "
	}
	out := []string{m.st.dim.Render(pad(rule+strings.Repeat("─", max(0, w-ansi.StringWidth(rule))), w))}
	lines := m.logs
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		prefix := fmt.Sprintf("%s[%d] | ", l.App, l.Instance)
		if l.Instance < 0 {
			prefix = "herd " + l.App + " | "
		}
		s := ansi.Truncate(prefix+ansi.Strip(l.Msg), w, "…")
		if l.Stream == "stderr" {
			s = m.st.errLine.Render(s)
		}
		out = append(out, s)
	}
	for len(out) < n+1 {
		out = append(out, "")
	}
	return out
}

// footer is the last line: a question, the filter being typed, or the
// outcome of the last action, else the keys.
func (m *model) footer(w int) string {
	switch {
	case m.confirm != nil:
		return m.st.warn.Render(ansi.Truncate(m.confirm.prompt+"? y/n", w, "…"))
	case m.filtering:
		return ansi.Truncate("/"+m.filter+"▏ (enter keeps it, esc clears it)", w, "…")
	case m.status != "" && !m.statusOK:
		return m.st.bad.Render(ansi.Truncate(m.status, w, "…"))
	case m.status != "":
		return ansi.Truncate(m.status, w, "…")
	}
	return m.st.dim.Render(ansi.Truncate("↑↓ select · enter expand · r restart · R reload · s stop/start · +/- scale · / filter · l logs", w, "…"))
}

func (m *model) helpText() string {
	return m.st.title.Render("herd monit: keys") + `

  ↑ ↓  k j      select an app or an instance
  enter space   expand or collapse an app's instances (→ ← too)
  r             restart the app (start it, if stopped)
  R             reload the app: one instance at a time, each ready first
  s             stop the app, or start it if stopped
  + -           add or remove one instance
  /             filter the apps by name or status (esc clears)
  l             show or hide the selected app's logs
  ?             this help
  q  ctrl+c     quit

Each action asks first: y or enter does it, any other key cancels.
Actions apply to the whole app, also from an instance's row.

any key closes this help`
}

// clip cuts s to h lines of at most w cells.
func clip(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "")
	}
	return strings.Join(lines, "\n")
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// HumanBytes writes a byte count as herd's tables show it: 1.5G, 20.3M,
// 4.0K or 512B.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
