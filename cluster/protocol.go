package cluster

import (
	"encoding/json"
	"errors"
	"strconv"
	"syscall"
)

// Control messages between the primary and its workers are JSON objects
// with a "herd" member naming the kind. User messages between Go workers and
// the primary travel wrapped as {"herd":"msg","data":...}; a Command worker's
// messages are taken as they come, except "ready".
const (
	msgOnline    = "online"     // worker -> primary: booted
	msgReady     = "ready"      // worker -> primary: ready to serve
	msgListening = "listening"  // worker -> primary: Listen done (addr)
	msgBeat      = "hb"         // worker -> primary: heartbeat
	msgError     = "error"      // worker -> primary: the worker function's error (msg)
	msgRecycle   = "recycle"    // worker -> primary: please replace me (msg)
	msgClosed    = "closed"     // worker -> primary: n dispatched connections closed
	msgListen    = "listen"     // worker -> primary: open this address (seq, net, addr)
	msgListenOK  = "listen-ok"  // primary -> worker: here it is (seq, handle)
	msgListenErr = "listen-err" // primary -> worker: could not (seq, msg)
	msgConn      = "conn"       // primary -> worker: a dispatched connection (l, handle)
	msgUser      = "msg"        // either way: a user message (data)
)

// ctl is a control message.
type ctl struct {
	Herd string          `json:"herd"`
	Seq  int             `json:"seq,omitempty"`
	Net  string          `json:"net,omitempty"`
	Addr string          `json:"addr,omitempty"`
	Msg  string          `json:"msg,omitempty"`
	N    int64           `json:"n,omitempty"`
	L    int             `json:"l,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Pre-encoded hot messages.
var (
	beatJSON = json.RawMessage(`{"herd":"hb"}`)
)

// Environment of a worker process.
const (
	envWorker   = "HERD_CLUSTER_WORKER"   // worker ID; its presence makes Run a worker
	envSlot     = "HERD_CLUSTER_SLOT"     // worker slot
	envParent   = "HERD_CLUSTER_PARENT"   // primary pid, checked against getppid
	envPolicy   = "HERD_CLUSTER_POLICY"   // shared, reuseport or dispatch
	envAddrs    = "HERD_CLUSTER_ADDRS"    // JSON list of the listeners' {net, addr}, by fd
	envMaxReq   = "HERD_CLUSTER_MAX_REQS" // this worker's jittered MaxRequests
	envListenN  = "LISTEN_FDS"
	envListenNm = "LISTEN_FDNAMES"
	envListenPD = "LISTEN_PID"
)

// clusterEnv lists every variable the primary sets for a worker, removed
// from the environment a primary passes on.
var clusterEnv = []string{envWorker, envSlot, envParent, envPolicy, envAddrs, envMaxReq, envListenN, envListenNm, envListenPD}

func itoa(i int) string { return strconv.Itoa(i) }

func quote(s string) string { return strconv.Quote(s) }

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
