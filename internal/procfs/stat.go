package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of the CPU times and the start time in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports.
const ClockTicks = 100

// ErrFormat is wrapped by the errors of ParseStat for bytes that are not a
// stat file.
var ErrFormat = errors.New("procfs: unexpected format")

// Stat is the part of /proc/<pid>/stat (see proc(5)) that herd uses.
type Stat struct {
	// PID is the process id (field 1).
	PID int
	// Comm is the command name, without the parentheses around it (field
	// 2). It is at most 15 bytes in the kernel but may hold any byte but
	// NUL, spaces and parentheses included.
	Comm string
	// State is the one-letter state (field 3): 'R' running, 'S' sleeping,
	// 'D' in uninterruptible wait, 'Z' zombie, 'T' stopped, 'X' dead, ...
	State byte
	// PPID is the parent's process id (field 4).
	PPID int
	// PGID is the process group id (field 5).
	PGID int
	// Session is the session id (field 6).
	Session int
	// UTime and STime are the CPU time spent in user and kernel mode, in
	// clock ticks (fields 14 and 15).
	UTime, STime uint64
	// Threads is the number of threads (field 20).
	Threads int
	// StartTime is when the process started, in clock ticks after boot
	// (field 22). With the pid it names a process: a reused pid has a
	// later start time.
	StartTime uint64
	// VSize is the virtual memory size in bytes (field 23).
	VSize uint64
	// RSSPages is the resident set size in pages (field 24).
	RSSPages int64
}

// CPU returns the user plus system CPU time the process has used.
func (s Stat) CPU() time.Duration {
	return time.Duration(s.UTime+s.STime) * (time.Second / ClockTicks)
}

// RSS returns the resident set size in bytes.
func (s Stat) RSS() int64 { return s.RSSPages * int64(os.Getpagesize()) }

// Zombie reports whether the process has exited and waits to be reaped
// ('Z'), or is being torn down ('X'): it runs no more code.
func (s Stat) Zombie() bool { return s.State == 'Z' || s.State == 'X' }

// statFields is how many fields follow the command name up to RSSPages.
const statFields = 22

// ParseStat parses the contents of a /proc/<pid>/stat file. The command
// name runs from the first '(' to the last ')', so that a name holding
// spaces or parentheses does not shift the fields after it. It fails with
// an error wrapping ErrFormat when a field herd uses is missing or not a
// number.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, fmt.Errorf("%w: no command name in parentheses", ErrFormat)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return s, fmt.Errorf("%w: bad pid", ErrFormat)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : end])
	rest := strings.Fields(string(b[end+1:]))
	if len(rest) < statFields {
		return s, fmt.Errorf("%w: too few fields", ErrFormat)
	}
	if len(rest[0]) != 1 {
		return s, fmt.Errorf("%w: bad state", ErrFormat)
	}
	s.State = rest[0][0]
	ints := []struct {
		dst *int
		i   int
	}{{&s.PPID, 1}, {&s.PGID, 2}, {&s.Session, 3}, {&s.Threads, 17}}
	for _, f := range ints {
		if *f.dst, err = strconv.Atoi(rest[f.i]); err != nil {
			return s, fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	uints := []struct {
		dst *uint64
		i   int
	}{{&s.UTime, 11}, {&s.STime, 12}, {&s.StartTime, 19}, {&s.VSize, 20}}
	for _, f := range uints {
		if *f.dst, err = strconv.ParseUint(rest[f.i], 10, 64); err != nil {
			return s, fmt.Errorf("%w: %w", ErrFormat, err)
		}
	}
	if s.RSSPages, err = strconv.ParseInt(rest[21], 10, 64); err != nil {
		return s, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return s, nil
}

// Status is the part of /proc/<pid>/status (see proc(5)) that herd uses.
// A field the file lacks is 0 (kernel threads and zombies have no Vm
// fields).
type Status struct {
	// VMSize is the virtual memory size in bytes (VmSize).
	VMSize int64
	// VMRSS is the resident set size in bytes (VmRSS).
	VMRSS int64
	// Threads is the number of threads (Threads).
	Threads int
}

// ParseStatus parses the contents of a /proc/<pid>/status file: lines of
// "Name:\tvalue", sizes as "1234 kB". Lines it does not know or cannot
// parse are skipped.
func ParseStatus(b []byte) Status {
	var s Status
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(val)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "VmSize":
			s.VMSize = kib(n, f)
		case "VmRSS":
			s.VMRSS = kib(n, f)
		case "Threads":
			s.Threads = int(n)
		}
	}
	return s
}

// kib scales n by the unit in f[1] ("kB", which means KiB).
func kib(n int64, f []string) int64 {
	if len(f) > 1 && f[1] == "kB" {
		return n << 10
	}
	return n
}

// ParsePids parses a list of pids separated by white space, as in a
// children file; words that are not positive numbers are skipped.
func ParsePids(b []byte) []int {
	var out []int
	for _, w := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(w); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}
