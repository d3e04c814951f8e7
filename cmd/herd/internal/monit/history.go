package monit

// DefaultHistory is the number of samples a History keeps per key: at the
// DefaultInterval of one second, the last five minutes.
const DefaultHistory = 300

// History keeps the recent samples of a value (an app's or an instance's
// resident memory) per key, oldest first, at most Len of them. Its zero
// value keeps DefaultHistory samples per key.
type History struct {
	// Len is the number of samples kept per key; 0 means DefaultHistory.
	Len  int
	data map[string][]int64
}

// Add appends v to key's samples, dropping the oldest beyond Len.
func (h *History) Add(key string, v int64) {
	n := h.Len
	if n <= 0 {
		n = DefaultHistory
	}
	if h.data == nil {
		h.data = map[string][]int64{}
	}
	s := append(h.data[key], v)
	if len(s) > n {
		s = append(s[:0:0], s[len(s)-n:]...)
	}
	h.data[key] = s
}

// Get returns key's samples, oldest first. The slice is the History's own:
// do not keep it across an Add.
func (h *History) Get(key string) []int64 { return h.data[key] }

// Keep drops every key for which keep returns false.
func (h *History) Keep(keep func(key string) bool) {
	for k := range h.data {
		if !keep(k) {
			delete(h.data, k)
		}
	}
}

// sparkTicks are the eight levels of a sparkline, lowest first.
var sparkTicks = []rune("▁▂▃▄▅▆▇█")

// Sparkline draws samples in at most width cells: when there are more
// samples than cells, each cell shows the largest sample of its share of
// them, so a spike is never averaged away. The highest sample of the
// window is drawn █ and the lowest ▁, unless the window varies by less
// than a quarter of its highest sample: then ▁ stands for three quarters
// of the highest, so that noise of a few percent draws as a ripple, not
// as a spike. A flat series is drawn at mid height. It returns "" for no
// samples or a width below 1.
func Sparkline(samples []int64, width int) string {
	if len(samples) == 0 || width < 1 {
		return ""
	}
	cells := samples
	if len(samples) > width {
		per := (len(samples) + width - 1) / width
		cells = make([]int64, 0, width)
		// Buckets end at the newest sample, so the last cell is never
		// a partial, older one.
		start := len(samples) % per
		if start != 0 {
			cells = append(cells, maxOf(samples[:start]))
		}
		for i := start; i < len(samples); i += per {
			cells = append(cells, maxOf(samples[i:i+per]))
		}
		if len(cells) > width {
			cells = cells[len(cells)-width:]
		}
	}
	lo, hi := cells[0], cells[0]
	for _, v := range cells {
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi > lo && hi-lo < hi/4 {
		lo = hi - hi/4
	}
	out := make([]rune, len(cells))
	for i, v := range cells {
		lvl := len(sparkTicks) / 2
		if hi > lo {
			lvl = int((v - lo) * int64(len(sparkTicks)-1) / (hi - lo))
		}
		out[i] = sparkTicks[lvl]
	}
	return string(out)
}

func maxOf(s []int64) int64 {
	m := s[0]
	for _, v := range s[1:] {
		m = max(m, v)
	}
	return m
}
