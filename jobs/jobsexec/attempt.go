package jobsexec

import (
	"encoding/json"
	"sync"

	"github.com/herdrun/herd/jobs"
)

// attempt is one run of one job: what its process's readers hand over.
// Progress goes to the job from a goroutine of the attempt, latest first:
// a command that writes progress faster than the store takes it loses the
// updates in between, never blocks on them.
type attempt struct {
	job   *jobs.Job[json.RawMessage]
	reply chan Reply // the first result or error
	bad   chan error // the first protocol error

	pmu   sync.Mutex // held by producers of progress
	ended bool
	prog  chan Progress // one slot: the latest update not stored yet
	done  chan struct{} // closed when the progress goroutine ends
}

func newAttempt(job *jobs.Job[json.RawMessage]) *attempt {
	a := &attempt{job: job, reply: make(chan Reply, 1), bad: make(chan error, 1), prog: make(chan Progress, 1), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for p := range a.prog {
			// An error means the job is cancelled or over, or the store is
			// unreachable: progress is advisory, the attempt goes on.
			_ = job.Progress(p.Fraction, p.Note)
		}
	}()
	return a
}

// progress hands p to the progress goroutine, replacing an update it has
// not taken yet.
func (a *attempt) progress(p Progress) {
	a.pmu.Lock()
	defer a.pmu.Unlock()
	if a.ended {
		return
	}
	select {
	case a.prog <- p:
	default:
		select {
		case <-a.prog:
		default:
		}
		a.prog <- p // the only producer holds pmu: the slot is free
	}
}

// answer keeps the first reply.
func (a *attempt) answer(r Reply) {
	select {
	case a.reply <- r:
	default:
	}
}

// fail keeps the first protocol error.
func (a *attempt) fail(err error) {
	select {
	case a.bad <- err:
	default:
	}
}

// finish stops the progress goroutine after it stored the last update.
func (a *attempt) finish() {
	a.pmu.Lock()
	if !a.ended {
		a.ended = true
		close(a.prog)
	}
	a.pmu.Unlock()
	<-a.done
}
