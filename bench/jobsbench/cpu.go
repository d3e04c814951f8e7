package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuMeter returns the CPU time (user + system) used so far by what a
// contender runs on; the burn-down row divides its growth over the timed
// span by the jobs run, a measure the machine's load does not scale.
type cpuMeter func() time.Duration

// selfCPU is this process's CPU time, all threads: herd, raw JetStream and
// River's Go side run here.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// statFields returns the fields of /proc/PID/stat after the command name.
func statFields(pid string) []string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:]) // [0] is the state, field 3 of stat(5)
}

// ticks reads utime+stime (fields 14 and 15 of stat(5)) from fields.
func ticks(f []string) time.Duration {
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

// pidCPU is the CPU time of one process.
func pidCPU(pid int) time.Duration { return ticks(statFields(strconv.Itoa(pid))) }

// groupCPU is the CPU time of the live processes of process group pgid
// (field 5 of stat(5)): a postmaster and its backends.
func groupCPU(pgid int) time.Duration {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	want := strconv.Itoa(pgid)
	var total time.Duration
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		f := statFields(e.Name())
		if len(f) > 2 && f[2] == want {
			total += ticks(f)
		}
	}
	return total
}

// burnResult is one burn-down round: jobs/s, and microseconds of CPU per
// job on the contender's meter over the timed span.
type burnResult struct {
	rate, cpu float64
}

// measure returns the burnResult of n jobs run since t0, with c0 the
// meter's reading at t0.
func (m cpuMeter) measure(n int, t0 time.Time, c0 time.Duration) burnResult {
	return burnResult{rate: rate(n, t0), cpu: float64(m()-c0) / float64(time.Microsecond) / float64(n)}
}
