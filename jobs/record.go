package jobs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// record is a job as stored: the body of its work message (state queued or
// scheduled) and the value of its key in the state bucket (every later
// state). One decoder reads both.
type record struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	Priority    Priority        `json:"priority,omitempty"`
	State       State           `json:"state"`
	Gen         int             `json:"gen,omitempty"` // bumped by Retry
	Attempt     int             `json:"attempt,omitempty"`
	MaxAttempts int             `json:"max_attempts"`
	Timeout     time.Duration   `json:"timeout"`
	Progress    float64         `json:"progress,omitempty"`
	Note        string          `json:"note,omitempty"`
	Args        json.RawMessage `json:"args,omitempty"`
	Result      json.RawMessage `json:"result,omitempty"`
	ResultRef   bool            `json:"result_ref,omitempty"` // the result is in the object store
	Error       string          `json:"error,omitempty"`
	Retried     int             `json:"retried,omitempty"` // attempts after the first, over all generations
	Created     stamp           `json:"created,omitempty"`
	Started     stamp           `json:"started,omitempty"`
	Finished    stamp           `json:"finished,omitempty"`
	RunAt       stamp           `json:"run_at,omitempty"`
	Worker      string          `json:"worker,omitempty"`
}

// decodeRecord reads a stored job and checks what the engine relies on.
func decodeRecord(b []byte) (*record, error) {
	var r record
	if !r.decodeFast(b) {
		r = record{}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("jobs: bad job record: %w", err)
		}
	}
	if !validID(r.ID) {
		return nil, fmt.Errorf("jobs: bad job record: id %q is not a ULID", r.ID)
	}
	if !validToken(r.Queue) {
		return nil, fmt.Errorf("jobs: bad job record %s: queue %q", r.ID, r.Queue)
	}
	switch r.State {
	case StateQueued, StateScheduled, StateRunning, StateRetrying, StateSucceeded, StateFailed, StateCancelled:
	default:
		return nil, fmt.Errorf("jobs: bad job record %s: state %q", r.ID, r.State)
	}
	if r.Priority < PriorityLow || r.Priority > PriorityCritical {
		return nil, fmt.Errorf("jobs: bad job record %s: priority %d", r.ID, r.Priority)
	}
	if r.MaxAttempts < 1 || r.MaxAttempts > MaxAttemptsLimit || r.Attempt < 0 || r.Gen < 0 || r.Timeout <= 0 {
		return nil, fmt.Errorf("jobs: bad job record %s: attempts %d/%d, gen %d, timeout %v", r.ID, r.Attempt, r.MaxAttempts, r.Gen, r.Timeout)
	}
	return &r, nil
}

// encode writes r as JSON (see codec.go).
func (r *record) encode() []byte {
	if (len(r.Args) > 0 && !json.Valid(r.Args)) || (len(r.Result) > 0 && !json.Valid(r.Result)) {
		// Never stored: Submit and the handlers check them.
		panic("jobs: encode record: args or result are not valid JSON")
	}
	return r.appendTo(make([]byte, 0, 192+len(r.Args)+len(r.Result)+len(r.Error)+len(r.Note)))
}

func (r *record) info() Info {
	return Info{
		ID: r.ID, Kind: r.Kind, Queue: r.Queue, Priority: r.Priority, State: r.State,
		Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, Progress: r.Progress, Note: r.Note,
		Args: r.Args, Result: r.Result, Error: r.Error,
		Created: r.Created.time(), Started: r.Started.time(), Finished: r.Finished.time(), RunAt: r.RunAt.time(), Worker: r.Worker,
	}
}

// stamp is a time in a record: Unix nanoseconds, 0 for none. Integers
// keep the records cheap to encode and decode.
type stamp int64

func stampOf(t time.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.UnixNano())
}

func stampNow() stamp { return stamp(time.Now().UnixNano()) }

func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s)).UTC()
}

// validToken reports whether s matches tokenRE (letters, digits, '-' and
// '_'), without the regular expression's cost on the per-job path.
func validToken(s string) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '-', ch == '_':
		default:
			return false
		}
	}
	return s != ""
}

// validID reports whether s is a ULID: 26 characters of Crockford base 32,
// the first at most '7'.
func validID(s string) bool {
	if len(s) != 26 || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= '0' && ch <= '9':
		case ch >= 'A' && ch <= 'Z' && ch != 'I' && ch != 'L' && ch != 'O' && ch != 'U':
		default:
			return false
		}
	}
	return true
}

// cancelMsg is the body of a cancel broadcast: the job and its generation,
// so a Retry (a new generation) is never hit by an older cancel.
func cancelMsg(id string, gen int) []byte { return []byte(id + " " + strconv.Itoa(gen)) }

func parseCancel(b []byte) (id string, gen int, ok bool) {
	id, g, found := strings.Cut(string(b), " ")
	if !found || !validID(id) {
		return "", 0, false
	}
	n, err := strconv.Atoi(g)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id, n, true
}
