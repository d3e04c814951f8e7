package child

import (
	"os"
	"runtime"
	"sync"
)

// The kernel sends Pdeathsig when the thread that forked the child exits,
// not when the process does. Go ends a thread when a goroutine that called
// runtime.LockOSThread returns without unlocking, so a child started from an
// arbitrary goroutine could be killed long before this process exits. Every
// child is therefore started from startLoop, a goroutine locked to its thread
// for good: that thread lives as long as the process.

type startReq struct {
	exec  *execReq // Reexec; the fields below are for a start
	path  string
	argv  []string
	attr  *os.ProcAttr
	reply chan<- startResp
}

type startResp struct {
	proc *os.Process
	err  error
}

var (
	starterOnce sync.Once
	starterReqs chan startReq
)

// startProcess runs os.StartProcess on the starter thread.
func startProcess(path string, argv []string, attr *os.ProcAttr) (*os.Process, error) {
	ensureStarter()
	reply := make(chan startResp, 1)
	starterReqs <- startReq{path: path, argv: argv, attr: attr, reply: reply}
	r := <-reply
	return r.proc, r.err
}

// ensureStarter starts startLoop unless ServeStarts serves the starts.
func ensureStarter() {
	starterOnce.Do(func() {
		starterReqs = make(chan startReq)
		go startLoop(starterReqs)
	})
}

// startLoop serves start requests forever on one locked OS thread. It never
// unlocks and never returns, so the thread never exits.
func startLoop(reqs <-chan startReq) {
	runtime.LockOSThread()
	for req := range reqs {
		serve(req)
	}
}
