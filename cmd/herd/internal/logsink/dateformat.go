package logsink

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DateFormat formats times as a PM2 log_date_format string asks: dayjs's
// tokens, which PM2 formats with (YYYY-MM-DD HH:mm:ss.SSS Z and the like),
// in local time. Build one with ParseDateFormat.
type DateFormat struct {
	parts []func(b *strings.Builder, t time.Time)
}

// ParseDateFormat parses a dayjs format: YY and YYYY (year), M to MMMM
// (month: 1, 01, Jan, January), D and DD (day of the month), d to dddd
// (weekday: 0, Su, Sun, Sunday), H and HH (hour 0-23), h and hh (hour
// 1-12), m and mm, s and ss, SSS (milliseconds), Z and ZZ (offset: +01:00,
// +0100), A and a (AM, am); text in [brackets] is written as is, and so is
// every other character. A run of a token's letter longer than the token
// is read as that token and what follows (MMMMM is MMMM then M). Y and YYY
// are errors, as dayjs does not format them.
func ParseDateFormat(s string) (*DateFormat, error) {
	f := &DateFormat{}
	lit := func(x string) {
		f.parts = append(f.parts, func(b *strings.Builder, _ time.Time) { b.WriteString(x) })
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '[' {
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				return nil, fmt.Errorf("%q: [ at %d is not closed with ]", s, i)
			}
			lit(s[i+1 : i+j])
			i += j + 1
			continue
		}
		maxLen, ok := tokenMax[c]
		if !ok {
			lit(string(c))
			i++
			continue
		}
		n := 1
		for i+n < len(s) && s[i+n] == c && n < maxLen {
			n++
		}
		tok := s[i : i+n]
		fn, ok := tokens[tok]
		if !ok {
			if c == 'S' { // S and SS are plain letters to dayjs
				lit(tok)
				i += n
				continue
			}
			return nil, fmt.Errorf("%q: dayjs has no token %s: use YYYY or YY for the year", s, tok)
		}
		f.parts = append(f.parts, fn)
		i += n
	}
	return f, nil
}

// Format returns t in the format.
func (f *DateFormat) Format(t time.Time) string {
	var b strings.Builder
	for _, p := range f.parts {
		p(&b, t)
	}
	return b.String()
}

// tokenMax is the longest token of each token letter.
var tokenMax = map[byte]int{'Y': 4, 'M': 4, 'D': 2, 'd': 4, 'H': 2, 'h': 2, 'm': 2, 's': 2, 'S': 3, 'Z': 2, 'A': 1, 'a': 1}

func num(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

func hour12(t time.Time) int {
	if h := t.Hour() % 12; h != 0 {
		return h
	}
	return 12
}

var tokens = map[string]func(b *strings.Builder, t time.Time){
	"YY":   func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Year()%100, 2)) },
	"YYYY": func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Year(), 4)) },
	"M":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(int(t.Month()))) },
	"MM":   func(b *strings.Builder, t time.Time) { b.WriteString(num(int(t.Month()), 2)) },
	"MMM":  func(b *strings.Builder, t time.Time) { b.WriteString(t.Month().String()[:3]) },
	"MMMM": func(b *strings.Builder, t time.Time) { b.WriteString(t.Month().String()) },
	"D":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(t.Day())) },
	"DD":   func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Day(), 2)) },
	"d":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(int(t.Weekday()))) },
	"dd":   func(b *strings.Builder, t time.Time) { b.WriteString(t.Weekday().String()[:2]) },
	"ddd":  func(b *strings.Builder, t time.Time) { b.WriteString(t.Weekday().String()[:3]) },
	"dddd": func(b *strings.Builder, t time.Time) { b.WriteString(t.Weekday().String()) },
	"H":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(t.Hour())) },
	"HH":   func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Hour(), 2)) },
	"h":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(hour12(t))) },
	"hh":   func(b *strings.Builder, t time.Time) { b.WriteString(num(hour12(t), 2)) },
	"m":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(t.Minute())) },
	"mm":   func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Minute(), 2)) },
	"s":    func(b *strings.Builder, t time.Time) { b.WriteString(strconv.Itoa(t.Second())) },
	"ss":   func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Second(), 2)) },
	"SSS":  func(b *strings.Builder, t time.Time) { b.WriteString(num(t.Nanosecond()/1e6, 3)) },
	"Z":    func(b *strings.Builder, t time.Time) { b.WriteString(t.Format("-07:00")) },
	"ZZ":   func(b *strings.Builder, t time.Time) { b.WriteString(t.Format("-0700")) },
	"A": func(b *strings.Builder, t time.Time) {
		b.WriteString(map[bool]string{true: "PM", false: "AM"}[t.Hour() >= 12])
	},
	"a": func(b *strings.Builder, t time.Time) {
		b.WriteString(map[bool]string{true: "pm", false: "am"}[t.Hour() >= 12])
	},
}
