package monit

import (
	"context"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestSparkline(t *testing.T) {
	for _, c := range []struct {
		in    []int64
		width int
		want  string
	}{
		{nil, 10, ""},
		{[]int64{1, 2}, 0, ""},
		{[]int64{5, 5, 5}, 10, "▅▅▅"},
		{[]int64{0, 7}, 10, "▁█"},
		{[]int64{0, 1, 2, 3, 4, 5, 6, 7}, 8, "▁▂▃▄▅▆▇█"},
		// More samples than cells: the largest of each share, the
		// newest cell whole.
		{[]int64{9, 0, 0, 0, 0, 7}, 3, "█▁▆"},
		{[]int64{1, 9, 0, 0, 0, 0, 7}, 3, "▁█▆"},
		// A ripple of 2% is not a spike.
		{[]int64{100, 98, 100}, 3, "█▇█"},
	} {
		if got := Sparkline(c.in, c.width); got != c.want {
			t.Errorf("Sparkline(%v, %d) = %q, want %q", c.in, c.width, got, c.want)
		}
	}
}

func TestHistory(t *testing.T) {
	h := History{Len: 3}
	for i := range 5 {
		h.Add("a", int64(i))
		h.Add("b", int64(10*i))
	}
	if got := h.Get("a"); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("a = %v, want [2 3 4]", got)
	}
	h.Keep(func(k string) bool { return k == "b" })
	if h.Get("a") != nil || len(h.Get("b")) != 3 {
		t.Fatalf("after Keep: a %v, b %v", h.Get("a"), h.Get("b"))
	}
	var z History
	for range DefaultHistory + 10 {
		z.Add("x", 1)
	}
	if n := len(z.Get("x")); n != DefaultHistory {
		t.Fatalf("zero History kept %d samples, want %d", n, DefaultHistory)
	}
}

func testList() daemon.List {
	return daemon.List{Apps: []daemon.AppInfo{
		{ID: 0, Name: "web", Status: daemon.StatusOnline, Instances: 2, UptimeMS: 65000, CPU: 1.5, Memory: 40 << 20,
			Live: []daemon.Instance{{Slot: 0, PID: 100, State: "ready", Memory: 20 << 20}, {Slot: 1, PID: 101, State: "ready", Memory: 20 << 20}}},
		{ID: 1, Name: "worker", Status: daemon.StatusStopped, Instances: 1},
	}}
}

func press(m *model, keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		var msg tea.KeyPressMsg
		switch k {
		case "enter":
			msg = tea.KeyPressMsg{Code: tea.KeyEnter}
		case "esc":
			msg = tea.KeyPressMsg{Code: tea.KeyEscape}
		case "down":
			msg = tea.KeyPressMsg{Code: tea.KeyDown}
		default:
			msg = tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
		}
		_, cmd = m.Update(msg)
	}
	return cmd
}

// The model without a daemon: rows, expansion, selection that follows its
// row, confirmations, the filter, and the layout at every width.
func TestModel(t *testing.T) {
	m := newModel(context.Background(), Options{Interval: DefaultInterval})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	m.Update(listMsg{l: testList()})
	if got := len(m.rows()); got != 2 {
		t.Fatalf("rows %d, want 2", got)
	}
	press(m, "enter")
	if got := len(m.rows()); got != 4 {
		t.Fatalf("expanded: rows %d, want 4", got)
	}
	press(m, "down")
	if m.sel != (rowKey{app: "web", slot: 0}) {
		t.Fatalf("selection %+v", m.sel)
	}
	// The instance goes: the selection falls back to its app.
	l := testList()
	l.Apps[0].Live = l.Apps[0].Live[1:]
	m.Update(listMsg{l: l})
	if m.sel != (rowKey{app: "web", slot: -1}) {
		t.Fatalf("selection after the instance went: %+v", m.sel)
	}
	// Destructive keys ask; n cancels, y runs.
	if cmd := press(m, "r"); cmd != nil || m.confirm == nil || !strings.Contains(m.render(), "restart web (all 2 instances at once)? y/n") {
		t.Fatalf("r: confirm %+v\n%s", m.confirm, m.render())
	}
	if cmd := press(m, "n"); cmd != nil || m.confirm != nil {
		t.Fatal("n ran the action")
	}
	press(m, "-")
	if cmd := press(m, "y"); cmd == nil {
		t.Fatal("y did not run the action")
	}
	// s on a stopped app starts it.
	press(m, "down", "down")
	press(m, "s")
	if m.confirm == nil || m.confirm.prompt != "start worker" || m.confirm.verb != "restart" {
		t.Fatalf("s on a stopped app: %+v", m.confirm)
	}
	press(m, "esc")
	// The filter.
	press(m, "/", "w", "o", "r")
	if rows := m.rows(); len(rows) != 1 || rows[0].app != "worker" {
		t.Fatalf("filter wor: rows %+v", rows)
	}
	press(m, "esc")
	if len(m.rows()) != 3 {
		t.Fatalf("after esc: rows %+v", m.rows())
	}
	// Every line fits the width; narrow widths drop columns.
	for _, w := range []int{20, 39, 50, 60, 80, 200} {
		m.Update(tea.WindowSizeMsg{Width: w, Height: 12})
		out := ansi.Strip(m.render())
		for _, line := range strings.Split(out, "\n") {
			if n := ansi.StringWidth(line); n > w {
				t.Errorf("width %d: a line of %d cells: %q", w, n, line)
			}
		}
		if got, want := strings.Contains(out, "UPTIME"), w >= 67; got != want {
			t.Errorf("width %d: UPTIME shown %v, want %v", w, got, want)
		}
		if got, want := strings.Contains(out, "MEM (last"), w >= 77; got != want {
			t.Errorf("width %d: sparkline shown %v, want %v", w, got, want)
		}
	}
}
