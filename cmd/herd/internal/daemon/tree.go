package daemon

import (
	"slices"
	"sync"
	"time"

	"github.com/herdrun/herd/cluster"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
	"github.com/herdrun/herd/internal/procfs"
)

// An instance's process tree is read for the list (ls, monit and the
// dashboard's sampler: the program's pid, memory, CPU) and for the
// metrics (CPU, memory, descriptors), from /proc, at each call.
//
// Under a guard (runner.Guard set, as in the herd command) an instance's
// root process is the guard, and the guard's children are its program,
// which it forks once, from one thread, for its whole life, and the
// processes re-parented to it (it is a subreaper), which the kernel puts
// in the children file of the guard's first thread. So the tree is read
// from that one file and the program's pid, remembered per instance,
// instead of from the children files of every thread of the guard (a Go
// program: 8 or 9). Below the program, a process of one thread has one
// children file (procfs.ChildrenOf); one of more threads has one per
// thread.

// treeUse is what one instance's process tree uses.
type treeUse struct {
	prog int           // the program's pid: under a guard, the guard's child; else the root
	cpu  time.Duration // user and system CPU time of the whole tree
	rss  int64         // resident memory of the whole tree, in bytes
	fds  int64         // open descriptors of the whole tree (when asked)
	pids []int         // the tree, the root first, parents before their children
}

// programs remembers the program of each guarded instance of one app.
type programs struct {
	mu sync.Mutex
	m  map[int]program // by the guard's pid
}

// program is a guard's program, the guard named by its pid and start.
type program struct {
	started time.Time // the instance's start (cluster.WorkerInfo.Started)
	pid     int
}

// read reads the trees of ws, instances of one app, in order: withFDs
// counts their descriptors too. It forgets the programs of instances that
// are not in ws.
func (ps *programs) read(ws []cluster.WorkerInfo, withFDs bool) []treeUse {
	guarded := runner.Guard != nil
	ps.mu.Lock()
	defer ps.mu.Unlock()
	next := make(map[int]program, len(ws))
	out := make([]treeUse, len(ws))
	for i, w := range ws {
		known := 0
		if e, ok := ps.m[w.PID]; ok && e.started.Equal(w.Started) {
			known = e.pid
		}
		out[i] = readTree(w, guarded, known, withFDs)
		if guarded && out[i].prog != w.PID {
			next[w.PID] = program{started: w.Started, pid: out[i].prog}
		}
	}
	ps.m = next
	return out
}

// readTree reads the process tree of instance w, whose root's CPU and
// memory w carries (cluster.Workers read its stat). known is the
// program's pid when a read before found it, else 0.
func readTree(w cluster.WorkerInfo, guarded bool, known int, withFDs bool) treeUse {
	u := treeUse{prog: w.PID, cpu: w.CPU, rss: w.RSS, pids: []int{w.PID}}
	if withFDs {
		u.fds = countFDs(w.PID)
	}
	var queue []int
	switch {
	case guarded && known != 0:
		// The first thread's children: what was re-parented to the guard
		// (and the program, if that thread forked it).
		kids, err := procfs.ThreadChildren(w.PID, w.PID)
		if err != nil {
			return u // the guard is gone
		}
		queue = append(kids, known)
	default:
		queue, _ = procfs.Children(w.PID)
	}
	direct := len(queue) // the root's children come first
	var first uint64     // the start of the earliest child: the program
	for i := 0; i < len(queue) && len(u.pids) < procfs.MaxTree; i++ {
		pid := queue[i]
		if slices.Contains(u.pids, pid) {
			continue
		}
		st, err := procfs.ReadStat(pid)
		if err != nil {
			continue // gone
		}
		if i < direct && st.PPID != w.PID {
			continue // the program ended and another process took its pid
		}
		u.pids = append(u.pids, pid)
		u.cpu += st.CPU()
		u.rss += st.RSS()
		if withFDs {
			u.fds += countFDs(pid)
		}
		if i < direct && guarded {
			switch {
			case known != 0:
				if pid == known {
					u.prog = pid // still the guard's child
				}
			case u.prog == w.PID || st.StartTime < first:
				// Found by reading every thread's children: the program
				// started before anything it left to the guard.
				u.prog, first = pid, st.StartTime
			}
		}
		kids, _ := procfs.ChildrenOf(st)
		queue = append(queue, kids...)
	}
	if !guarded && direct > 0 && len(u.pids) > 1 {
		u.prog = u.pids[1] // as ls has always shown it: the root's first child
	}
	return u
}
