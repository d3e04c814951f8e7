package supervise

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Stats is a snapshot of one process's resource use.
type Stats struct {
	// RSS is the resident set size in bytes.
	RSS int64
	// CPU is the user plus system CPU time the process has used.
	CPU time.Duration
}

// ReadStats reads pid's resident memory and CPU time from /proc. It fails
// once the process is gone.
func ReadStats(pid int) (Stats, error) {
	var s Stats
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: field 3 (state) is rest[0], utime (14) is rest[11], stime
	// (15) rest[12], rss in pages (24) rest[21].
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("supervise: /proc/%d/stat: unexpected format", pid)
	}
	rest := bytes.Fields(stat[i+1:])
	if len(rest) < 22 {
		return s, fmt.Errorf("supervise: /proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(string(rest[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(rest[12]), 10, 64)
	pages, _ := strconv.ParseInt(string(rest[21]), 10, 64)
	s.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	s.RSS = pages * int64(os.Getpagesize())
	return s, nil
}
