package jobsnode

import (
	"fmt"
	"sync"
	"time"
	_ "unsafe" // go:linkname, for nats-server's raft timing
)

// Raft election timing.
//
// When a node dies, every raft group it led (a stream, a KV bucket, a
// work consumer) stays without a leader until a follower's election timer
// fires: a random time between the group's election timeout and about
// twice it, counted from the last heartbeat (every second) of the dead
// leader. nats-server v2.15.3 fixes that timeout at 4–9 s and offers no
// option for it: it is a pair of package variables (minElectionTimeout,
// maxElectionTimeout in server/raft.go). Recovery from a killed node is
// bounded by it, so herd's node sets the pair itself, through go:linkname.
//
// The link is checked twice: a nats-server without these variables fails
// to link, and TestElectionTimeout fails when a killed leader's groups are
// not led again before nats-server's own 4 s minimum.

//go:linkname raftMinElection github.com/nats-io/nats-server/v2/server.minElectionTimeout
var raftMinElection time.Duration

//go:linkname raftMaxElection github.com/nats-io/nats-server/v2/server.maxElectionTimeout
var raftMaxElection time.Duration

const (
	// DefaultElectionTimeout is Config.ElectionTimeout when zero: a
	// follower calls an election 2–4 s after its leader's last heartbeat
	// (nats-server's own: 4–9 s).
	DefaultElectionTimeout = 2 * time.Second
	// MinElectionTimeout is the shortest ElectionTimeout Start accepts:
	// raft leaders send a heartbeat every second, and a shorter timeout
	// would call elections when one is merely late on a loaded machine.
	MinElectionTimeout = 1500 * time.Millisecond
)

var electionTiming struct {
	sync.Mutex
	set time.Duration // the process's ElectionTimeout once a node started
}

// setElectionTimeout makes d the raft election timeout of every server in
// this process (d to 2d, random per election). The pair is read by
// nats-server's raft goroutines without a lock, so it is written once,
// before the process's first clustered server starts; a later node asking
// for another value gets a ConfigError.
func setElectionTimeout(d time.Duration) error {
	electionTiming.Lock()
	defer electionTiming.Unlock()
	switch electionTiming.set {
	case 0:
		raftMinElection, raftMaxElection = d, 2*d
		electionTiming.set = d
		return nil
	case d:
		return nil
	}
	return &ConfigError{Field: "ElectionTimeout", Problem: fmt.Sprintf("%v: this process's nodes already use %v (nats-server keeps one raft timing per process; give every node the same value)", d, electionTiming.set)}
}
