package cluster

import (
	"encoding/json"
	"time"
)

// EventKind says what happened to a worker.
type EventKind int

const (
	// EventFork: a worker process was started.
	EventFork EventKind = iota + 1
	// EventOnline: the worker process is running and talking to the
	// primary.
	EventOnline
	// EventListening: the worker called Listen; Event.Addr says where.
	EventListening
	// EventReady: the worker is ready (explicitly, on first Listen, or on
	// start for ReadyOnStart commands) and now counts as serving.
	EventReady
	// EventMessage: the worker sent a message; Event.Data holds it.
	EventMessage
	// EventDisconnect: the worker's channel closed.
	EventDisconnect
	// EventExit: the worker process exited; Event.Status says how and
	// Event.Expected whether the primary asked it to.
	EventExit
)

// String returns the Node-style name: "fork", "online", "listening", "ready",
// "message", "disconnect" or "exit".
func (k EventKind) String() string {
	switch k {
	case EventFork:
		return "fork"
	case EventOnline:
		return "online"
	case EventListening:
		return "listening"
	case EventReady:
		return "ready"
	case EventMessage:
		return "message"
	case EventDisconnect:
		return "disconnect"
	case EventExit:
		return "exit"
	}
	return "event(" + itoa(int(k)) + ")"
}

// Event is one thing that happened to a worker, as seen by the primary.
type Event struct {
	Kind   EventKind // what happened
	Time   time.Time // when the primary saw it
	Worker int       // the worker's ID, unique for the life of the primary, from 1
	Slot   int       // the worker's slot, 0..Workers-1; a replacement takes its predecessor's slot
	PID    int       // the worker's process ID

	// Adopted, for EventFork, is true when the worker was not started but
	// taken over from an earlier image of the primary (Config.Adopt).
	Adopted bool

	// Addr is the address for EventListening.
	Addr string
	// Data is the message for EventMessage.
	Data json.RawMessage
	// Status is how the worker ended, for EventExit.
	Status ExitStatus
	// Expected, for EventExit, is true when the primary asked the worker to
	// stop (shutdown, reload, scale-down, recycling) and false when it
	// crashed, was killed from outside or returned on its own.
	Expected bool
	// Reason, for EventExit, says why the primary stopped or killed the
	// worker ("reload", "heartbeat timeout", "max lifetime", ...) if it did.
	Reason string
}
