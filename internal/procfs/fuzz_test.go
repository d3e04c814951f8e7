package procfs_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/herdrun/herd/internal/procfs"
)

// FuzzParseStat feeds arbitrary bytes to ParseStat: it must not panic, and
// what it accepts must have a command name and a state.
func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine("1", "systemd", "S", "0", "1")))
	f.Add([]byte(statLine("42", ") (x) y ((z", "Z", "1", "42")))
	f.Add([]byte(statLine("7", "", "R", "1", "7")))
	f.Add([]byte("12 (short) R 1 12\n"))
	f.Add([]byte("(no pid) S 1 1 1 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 1 1 1"))
	f.Add([]byte("1 ) backwards ( S"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := procfs.ParseStat(b)
		if err != nil {
			if !errors.Is(err, procfs.ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if s.State == 0 || s.State == ' ' {
			t.Fatalf("accepted %q with state %q", b, s.State)
		}
	})
}

// FuzzStatCommand writes a stat line with any command name and reads it
// back: names with spaces and parentheses must not shift the fields.
func FuzzStatCommand(f *testing.F) {
	f.Add("sh", uint32(1), uint32(1))
	f.Add(") (x) y ((z", uint32(4242), uint32(7))
	f.Add("a b\nc)", uint32(0), uint32(99))
	f.Add("))))", uint32(1<<31), uint32(3))
	f.Fuzz(func(t *testing.T, comm string, ppid, pgid uint32) {
		line := statLine("123", comm, "S", strconv.FormatUint(uint64(ppid), 10), strconv.FormatUint(uint64(pgid), 10))
		s, err := procfs.ParseStat([]byte(line))
		if err != nil {
			t.Fatalf("ParseStat(%q): %v", line, err)
		}
		if s.PID != 123 || s.Comm != comm || s.State != 'S' || s.PPID != int(ppid) || s.PGID != int(pgid) || s.StartTime != 12345 || s.RSSPages != 10 {
			t.Fatalf("ParseStat(%q) = %+v", line, s)
		}
	})
}

// FuzzParseStatus and ParsePids: no panic, and only positive pids.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tsh\nVmSize:\t  2048 kB\nVmRSS:\t 512 kB\nThreads:\t1\n"))
	f.Add([]byte("VmSize:\nVmRSS: x kB\nThreads"))
	f.Add([]byte("2 3 4\n"))
	f.Add([]byte("-1 0 junk 99999999999999999999"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = procfs.ParseStatus(b)
		for _, pid := range procfs.ParsePids(b) {
			if pid <= 0 {
				t.Fatalf("ParsePids(%q) gave %d", b, pid)
			}
		}
	})
}

// FuzzParseStatm feeds arbitrary bytes to ParseStatm: it must not panic,
// errors wrap ErrFormat, and what it accepts has no negative field.
func FuzzParseStatm(f *testing.F) {
	f.Add([]byte("5373 1117 826 227 0 308 0\n"))
	f.Add([]byte("1 2"))
	f.Add([]byte("-1 2 3"))
	f.Add([]byte("99999999999999999999 1 1"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := procfs.ParseStatm(b)
		if err != nil {
			if !errors.Is(err, procfs.ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if s.Size < 0 || s.Resident < 0 || s.Shared < 0 {
			t.Fatalf("accepted %q as %+v", b, s)
		}
	})
}
