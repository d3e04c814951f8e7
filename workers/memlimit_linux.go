package workers

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/herdrun/herd/internal/procfs"
	"golang.org/x/sys/unix"
)

// memLimit enforces Options.MemoryLimit on one worker process.
type memLimit interface {
	// beforeReady is called right after the process starts.
	beforeReady(pid int) error
	// afterReady is called once the worker reported ready.
	afterReady(pid int) error
	// oomKilled reports whether the kernel killed the worker for memory.
	oomKilled() bool
	// release removes what was created for the worker.
	release()
}

// MemoryLimitMode reports how MemoryLimit is enforced on this machine:
// "cgroup2" (a memory cgroup per worker) or "rlimit" (the worker's private
// resident memory sampled every 20ms, with RLIMIT_AS as a backstop).
func MemoryLimitMode() string {
	if _, err := cgroupBase(); err == nil {
		return "cgroup2"
	}
	return "rlimit"
}

// newMemLimit returns the limit for one worker; kill kills the worker's
// process group, recording why.
func newMemLimit(limit int64, kill func(reason string)) memLimit {
	if base, err := cgroupBase(); err == nil {
		return &cgroupLimit{base: base, limit: limit}
	}
	return newRSSLimit(limit, kill)
}

var (
	cgOnce sync.Once
	cgDir  string
	cgErr  error
	cgSeq  atomic.Uint64
)

// cgroupBase finds (once) a cgroup v2 directory where this process may
// create child cgroups with the memory controller: this process's own
// cgroup when it delegates "memory" to its children.
func cgroupBase() (string, error) {
	cgOnce.Do(func() { cgDir, cgErr = findCgroupBase() })
	return cgDir, cgErr
}

func findCgroupBase() (string, error) {
	mount := ""
	mi, err := procfs.Default.ReadFile("self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(mi), "\n") {
		parts := strings.Split(line, " - ")
		if len(parts) == 2 && strings.HasPrefix(parts[1], "cgroup2 ") {
			f := strings.Fields(parts[0])
			if len(f) >= 5 {
				mount = f[4]
				break
			}
		}
	}
	if mount == "" {
		return "", fmt.Errorf("no cgroup2 mount")
	}
	self, err := procfs.Default.ReadFile("self/cgroup")
	if err != nil {
		return "", err
	}
	rel := ""
	for _, line := range strings.Split(string(self), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			rel = p
		}
	}
	dir := filepath.Join(mount, rel)
	ctl, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil || !hasWord(ctl, "memory") {
		return "", fmt.Errorf("cgroup2 at %s has no memory controller", dir)
	}
	sub, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if !hasWord(sub, "memory") {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
			return "", fmt.Errorf("enable memory controller in %s: %w", dir, err)
		}
	}
	return dir, nil
}

func hasWord(b []byte, w string) bool {
	for _, f := range strings.Fields(string(b)) {
		if f == w {
			return true
		}
	}
	return false
}

// cgroupLimit puts the worker in a cgroup of its own with memory.max set.
type cgroupLimit struct {
	base  string
	limit int64
	dir   string
}

func (l *cgroupLimit) beforeReady(pid int) error {
	l.dir = filepath.Join(l.base, fmt.Sprintf("herd-worker-%d-%d", os.Getpid(), cgSeq.Add(1)))
	if err := os.Mkdir(l.dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup: %w", err)
	}
	os.WriteFile(filepath.Join(l.dir, "memory.swap.max"), []byte("0"), 0)
	if err := os.WriteFile(filepath.Join(l.dir, "memory.max"), []byte(strconv.FormatInt(l.limit, 10)), 0); err != nil {
		return fmt.Errorf("set memory.max: %w", err)
	}
	if err := os.WriteFile(filepath.Join(l.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		return fmt.Errorf("move worker into cgroup: %w", err)
	}
	return nil
}

func (l *cgroupLimit) afterReady(int) error { return nil }

func (l *cgroupLimit) oomKilled() bool {
	b, err := os.ReadFile(filepath.Join(l.dir, "memory.events"))
	if err != nil {
		return false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
			return true
		}
	}
	return false
}

func (l *cgroupLimit) release() {
	if l.dir != "" {
		os.Remove(l.dir) // empty once the worker is reaped
	}
}

// rlimitLimit caps the worker's address space at its size when ready plus
// the limit plus threadAllowance. The Go runtime reports a failed
// allocation as a fatal "out of memory" error, which the pool recognizes in
// the worker's stderr. RLIMIT_AS counts address space, not memory: in a cgo
// binary every new OS thread maps an 8 MiB stack, so without the allowance
// a worker that merely grew a few threads under load would abort in
// pthread_create. The fallback is therefore coarser than a memory cgroup.
// threadAllowance is the address space RLIMIT_AS leaves for thread stacks
// that a worker creates after it is ready: 32 threads of 8 MiB.
const threadAllowance = 32 * 8 << 20

type rlimitLimit struct {
	limit int64
}

func (l *rlimitLimit) beforeReady(int) error { return nil }

func (l *rlimitLimit) afterReady(pid int) error {
	vm, err := vmSize(pid)
	if err != nil {
		return err
	}
	lim := uint64(vm + l.limit + threadAllowance)
	return unix.Prlimit(pid, unix.RLIMIT_AS, &unix.Rlimit{Cur: lim, Max: lim}, nil)
}

func (l *rlimitLimit) oomKilled() bool { return false }

func (l *rlimitLimit) release() {}

// vmSize returns a process's virtual memory size in bytes.
func vmSize(pid int) (int64, error) {
	st, err := procfs.ReadStatus(pid)
	if err != nil {
		return 0, err
	}
	if st.VMSize == 0 {
		return 0, fmt.Errorf("no VmSize for pid %d", pid)
	}
	return st.VMSize, nil
}
