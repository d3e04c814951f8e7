// Package reaper makes a supervisor the parent of last resort of everything
// its children start, so that nothing they leave behind outlives it.
//
// A process that a child starts and then abandons (a daemon that called
// setsid, a double fork, a grandchild whose parent died) leaves the child's
// process group, so killing the group misses it, and it is re-parented to
// init. Start marks this process a child subreaper (prctl
// PR_SET_CHILD_SUBREAPER): such processes are re-parented to it instead.
// While it runs, a Reaper reaps adopted processes that have exited, so no
// zombie accumulates; Stop ends the ones still alive.
//
// An adopted zombie is told apart from a child this process started itself
// (which its own Wait reaps at once) by time: a child that is still a zombie
// after a whole interval, and at least MinZombieAge, is reaped here. Stop assumes every child left is
// adopted; call it only after waiting for the children this process started.
//
// The herd command uses it; a library should not, because it changes how the
// whole process relates to its descendants.
package reaper

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/killer"
	"github.com/herdrun/herd/internal/procfs"
	"golang.org/x/sys/unix"
)

// MinZombieAge is the least time a child stays a zombie before the
// background pass reaps it, whatever the interval: on a loaded machine the
// Wait of a child this process started itself may come late.
const MinZombieAge = time.Second

// Reaper reaps this process's adopted children. Create it with Start.
type Reaper struct {
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu     sync.Mutex
	reaped int
}

// Start makes this process a child subreaper and reaps, every interval
// (0 means 1s), the children that have been zombies since a previous pass
// at least MinZombieAge ago. It fails when the kernel refuses the subreaper flag.
func Start(interval time.Duration) (*Reaper, error) {
	if interval <= 0 {
		interval = time.Second
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("reaper: become child subreaper: %w", err)
	}
	r := &Reaper{stop: make(chan struct{}), done: make(chan struct{})}
	go r.loop(interval)
	return r, nil
}

// Reaped returns how many adopted zombies the background pass has reaped.
func (r *Reaper) Reaped() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reaped
}

func (r *Reaper) loop(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	age := max(interval, MinZombieAge)
	last := map[int]time.Time{} // zombies at the previous pass: first seen
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		now := map[int]time.Time{}
		for _, pid := range children(os.Getpid()) {
			if procfs.State(pid) != 'Z' {
				continue
			}
			first, ok := last[pid]
			if !ok {
				first = time.Now()
			}
			if time.Since(first) < age {
				now[pid] = first // give its own Wait time
				continue
			}
			if reap(pid) {
				r.mu.Lock()
				r.reaped++
				r.mu.Unlock()
			}
		}
		last = now
	}
}

// reap collects pid's exit status if it has exited.
func reap(pid int) bool {
	var ws unix.WaitStatus
	got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
	return err == nil && got == pid
}

// Stop ends the background pass, then ends every process that is still a
// child of this one, with its descendants: SIGTERM, then SIGKILL to what is
// left after grace, and reaps them, giving up after grace plus 5s. Call it
// once the children this process started have been waited for. It returns
// the pids of the adopted children it found (nil when there were none) and
// an error if some could not be reaped in time.
func (r *Reaper) Stop(grace time.Duration) ([]int, error) {
	r.once.Do(func() { close(r.stop) })
	<-r.done
	self := os.Getpid()
	adopted := children(self)
	if len(adopted) == 0 {
		return nil, nil
	}
	// SIGTERM now, SIGKILL after grace to the trees of the children left
	// then.
	kill := killer.Escalation{Signal: syscall.SIGTERM, Grace: grace}.Start(func(sig syscall.Signal) error {
		signalTrees(children(self), sig)
		return nil
	})
	defer kill.Stop()
	for giveUp := time.Now().Add(grace + 5*time.Second); ; {
		left := children(self)
		for _, pid := range left {
			reap(pid)
		}
		left = children(self)
		if len(left) == 0 {
			return adopted, nil
		}
		if time.Now().After(giveUp) {
			return adopted, fmt.Errorf("reaper: %d adopted process(es) not reaped: %v", len(left), left)
		} else if kill.Escalated() {
			signalTrees(left, syscall.SIGKILL) // their own children, adopted since
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// children returns the pids of pid's children, nil when there are none or
// they cannot be read.
func children(pid int) []int {
	kids, _ := procfs.Children(pid)
	return kids
}

// signalTrees sends sig to each pid and every descendant of it.
func signalTrees(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		for _, p := range procfs.Tree(pid) {
			_ = syscall.Kill(p, sig) // ESRCH: it has just exited
		}
	}
}
