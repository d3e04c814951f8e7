package jobshttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herdrun/herd/jobs"
)

// SubmitRequest is the body of POST /jobs. Only Kind is required; every
// other field left out takes the jobs package's default. Clients may encode
// it; the server decodes the same JSON, and also accepts a number for
// "priority".
type SubmitRequest struct {
	// Kind names the handler that runs the job; it must be registered or
	// declared on the jobs.Client, else 400.
	Kind string `json:"kind"`
	// Args is handed to the handler as JSON; any JSON value, or absent.
	Args json.RawMessage `json:"args,omitempty"`
	// Queue is the queue's name; "" means jobs.DefaultQueue.
	Queue string `json:"queue,omitempty"`
	// Priority is low, normal, high or critical, or the number of one of
	// them ("-1" to "2"); "" means normal.
	Priority string `json:"priority,omitempty"`
	// Delay is a duration such as "90s": run no earlier than that from now.
	Delay string `json:"delay,omitempty"`
	// RunAt is an RFC 3339 time: run no earlier than then. Give Delay or
	// RunAt, not both.
	RunAt string `json:"run_at,omitempty"`
	// MaxAttempts is how many times the job may run; 0 means
	// jobs.DefaultMaxAttempts.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// Timeout is a duration such as "5m": how long one attempt may run.
	Timeout string `json:"timeout,omitempty"`
	// UniqueKey makes a second submit with the same key, while the key
	// lives, return the first job's ID instead of making a new job.
	UniqueKey string `json:"unique_key,omitempty"`
}

// wireSubmit is what the server decodes: SubmitRequest with a priority that
// may be a string or a number.
type wireSubmit struct {
	Kind        string          `json:"kind"`
	Args        json.RawMessage `json:"args"`
	Queue       string          `json:"queue"`
	Priority    json.RawMessage `json:"priority"`
	Delay       string          `json:"delay"`
	RunAt       string          `json:"run_at"`
	MaxAttempts int             `json:"max_attempts"`
	Timeout     string          `json:"timeout"`
	UniqueKey   string          `json:"unique_key"`
}

// submitFields lists the body's fields, for the error about an unknown one.
const submitFields = "kind, args, queue, priority, delay, run_at, max_attempts, timeout, unique_key"

// reqError is an answer other than success: the HTTP status and the text of
// the JSON body {"error": Message, "field": Field}.
type reqError struct {
	Status  int
	Field   string // the request field at fault, or ""
	Message string // names the field and what to write instead
	// RetryAfter, if positive, is sent as the Retry-After header (429).
	RetryAfter time.Duration
}

func (e *reqError) Error() string { return e.Message }

func badField(field, format string, args ...any) *reqError {
	return &reqError{Status: 400, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// priorityNames maps the names a request may use to the priorities.
var priorityNames = []struct {
	name string
	p    jobs.Priority
}{
	{"low", jobs.PriorityLow},
	{"normal", jobs.PriorityNormal},
	{"high", jobs.PriorityHigh},
	{"critical", jobs.PriorityCritical},
}

// ParsePriority reads a priority by name (low, normal, high, critical, in
// any case) or by number (the value of one of those).
func ParsePriority(s string) (jobs.Priority, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, pn := range priorityNames {
		if t == pn.name {
			return pn.p, nil
		}
	}
	if n, err := strconv.Atoi(t); err == nil {
		for _, pn := range priorityNames {
			if int(pn.p) == n {
				return pn.p, nil
			}
		}
	}
	return 0, fmt.Errorf("%q is not a priority; write low, normal, high or critical (or %d, %d, %d, %d)",
		s, jobs.PriorityLow, jobs.PriorityNormal, jobs.PriorityHigh, jobs.PriorityCritical)
}

// PriorityName returns the name of p (low, normal, high, critical), or its
// number if it has none.
func PriorityName(p jobs.Priority) string {
	for _, pn := range priorityNames {
		if pn.p == p {
			return pn.name
		}
	}
	return strconv.Itoa(int(p))
}

// parseDuration reads a non-negative Go duration string for field.
func parseDuration(field, s string) (time.Duration, *reqError) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, badField(field, "%q is not a duration; write one such as \"90s\", \"5m\" or \"1h30m\"", s)
	}
	if d < 0 {
		return 0, badField(field, "%q is negative; write a duration of 0 or more, such as \"90s\"", s)
	}
	return d, nil
}

// decodeSubmit reads a submit body from r into a jobs.Request; now is used
// in the example of an error message only.
func decodeSubmit(r io.Reader, now time.Time) (jobs.Request, *reqError) {
	var w wireSubmit
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return jobs.Request{}, decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if isTooLarge(err) {
			return jobs.Request{}, decodeError(err)
		}
		return jobs.Request{}, &reqError{Status: 400, Field: "body", Message: "body: more than one JSON value; send one object such as {\"kind\":\"resize\"}"}
	}
	return w.request(now)
}

// request checks w and converts it.
func (w *wireSubmit) request(now time.Time) (jobs.Request, *reqError) {
	var req jobs.Request
	kind := strings.TrimSpace(w.Kind)
	if kind == "" {
		return req, badField("kind", "missing; name the job's kind, as in {\"kind\":\"resize\"}")
	}
	if kind != w.Kind {
		return req, badField("kind", "%q has spaces around it; write %q", w.Kind, kind)
	}
	req.Kind = w.Kind
	if len(w.Args) > 0 {
		req.Args = w.Args
	}
	req.Options.Queue = w.Queue
	if w.Queue != "" && strings.TrimSpace(w.Queue) != w.Queue {
		return req, badField("queue", "%q has spaces around it; write %q", w.Queue, strings.TrimSpace(w.Queue))
	}
	if len(w.Priority) > 0 && !bytes.Equal(w.Priority, []byte("null")) {
		var s string
		switch w.Priority[0] {
		case '"':
			if err := json.Unmarshal(w.Priority, &s); err != nil {
				return req, badField("priority", "not a string; write low, normal, high or critical")
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			s = string(w.Priority)
		default:
			return req, badField("priority", "%s is neither a name nor a number; write low, normal, high or critical", w.Priority)
		}
		p, err := ParsePriority(s)
		if err != nil {
			return req, badField("priority", "%s", err)
		}
		req.Options.Priority = p
	}
	if w.Delay != "" && w.RunAt != "" {
		return req, badField("delay", "give delay or run_at, not both")
	}
	if w.Delay != "" {
		d, e := parseDuration("delay", w.Delay)
		if e != nil {
			return req, e
		}
		req.Options.Delay = d
	}
	if w.RunAt != "" {
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(w.RunAt))
		if err != nil {
			return req, badField("run_at", "%q is not an RFC 3339 time; write one such as %q", w.RunAt, now.UTC().Add(time.Hour).Truncate(time.Second).Format(time.RFC3339))
		}
		req.Options.RunAt = t
	}
	if w.MaxAttempts < 0 {
		return req, badField("max_attempts", "%d is negative; write 1 or more, or leave it out for the default (%d)", w.MaxAttempts, jobs.DefaultMaxAttempts)
	}
	req.Options.MaxAttempts = w.MaxAttempts
	if w.Timeout != "" {
		d, e := parseDuration("timeout", w.Timeout)
		if e != nil {
			return req, e
		}
		req.Options.Timeout = d
	}
	req.Options.UniqueKey = w.UniqueKey
	return req, nil
}

// isTooLarge reports whether err comes from http.MaxBytesReader.
func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// decodeError turns an error of encoding/json into an *reqError naming the
// field.
func decodeError(err error) *reqError {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case isTooLarge(err):
		return &reqError{Status: 413, Field: "body", Message: "body: too large; send a smaller request"}
	case errors.Is(err, io.EOF):
		return &reqError{Status: 400, Field: "body", Message: "body: empty; send a JSON object such as {\"kind\":\"resize\"}"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &reqError{Status: 400, Field: "body", Message: "body: the JSON ends early; send a whole object such as {\"kind\":\"resize\"}"}
	case errors.As(err, &se):
		return &reqError{Status: 400, Field: "body", Message: fmt.Sprintf("body: invalid JSON at byte %d (%s); send an object such as {\"kind\":\"resize\"}", se.Offset, strings.TrimPrefix(se.Error(), "json: "))}
	case errors.As(err, &te):
		if te.Field == "" {
			return &reqError{Status: 400, Field: "body", Message: fmt.Sprintf("body: a JSON %s; send an object such as {\"kind\":\"resize\"}", te.Value)}
		}
		field := te.Field
		want := "a string"
		switch te.Type.Kind().String() {
		case "int":
			want = "a whole number"
		case "string":
			if field == "delay" || field == "timeout" {
				want = "a duration string such as \"90s\""
			} else if field == "run_at" {
				want = "an RFC 3339 time string"
			}
		}
		return badField(field, "a JSON %s; write %s", te.Value, want)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field, _ := strconv.Unquote(name)
		field = fieldName(field)
		return &reqError{Status: 400, Field: field, Message: fmt.Sprintf("%s: unknown field; the fields are %s", name, submitFields)}
	}
	return &reqError{Status: 400, Field: "body", Message: "body: " + strings.TrimPrefix(err.Error(), "json: ")}
}

// Query parameters of the routes.
var (
	listParams = []string{"state", "queue", "kind", "limit", "cursor", "order"}
	waitParams = []string{"timeout"}
)

// states lists the job states a list may filter on.
var states = []jobs.State{jobs.StateQueued, jobs.StateScheduled, jobs.StateRunning, jobs.StateRetrying,
	jobs.StateSucceeded, jobs.StateFailed, jobs.StateCancelled}

// checkParams refuses parameters other than allowed, and repeated ones.
func checkParams(q url.Values, allowed []string) *reqError {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			name := fieldName(k)
			if len(allowed) == 0 {
				return badField(name, "unknown parameter; this request takes none")
			}
			return badField(name, "unknown parameter; the parameters are %s", strings.Join(allowed, ", "))
		}
		if len(q[k]) > 1 {
			return badField(k, "given %d times; give it once", len(q[k]))
		}
	}
	return nil
}

// parseFilter reads the query of GET /jobs.
func parseFilter(q url.Values, maxLimit int) (jobs.Filter, *reqError) {
	var f jobs.Filter
	if e := checkParams(q, listParams); e != nil {
		return f, e
	}
	if s := q.Get("state"); s != "" {
		if !slices.Contains(states, jobs.State(s)) {
			names := make([]string, len(states))
			for i, st := range states {
				names[i] = string(st)
			}
			return f, badField("state", "%q is not a state; write one of %s", s, strings.Join(names, ", "))
		}
		f.State = jobs.State(s)
	}
	f.Queue = q.Get("queue")
	f.Kind = q.Get("kind")
	f.Cursor = q.Get("cursor")
	switch o := q.Get("order"); o {
	case "", OrderOldest:
	case OrderNewest:
		f.Newest = true
	default:
		return f, badField("order", "%q; write %s (the default) or %s", o, OrderOldest, OrderNewest)
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return f, badField("limit", "%q; write a whole number from 1 to %d", s, maxLimit)
		}
		f.Limit = n
	}
	return f, nil
}

// parseWait reads the query of GET /jobs/{id}/wait.
func parseWait(q url.Values, def, maxWait time.Duration) (time.Duration, *reqError) {
	if e := checkParams(q, waitParams); e != nil {
		return 0, e
	}
	s := q.Get("timeout")
	if s == "" {
		return def, nil
	}
	d, e := parseDuration("timeout", s)
	if e != nil {
		return 0, e
	}
	if d > maxWait {
		return 0, badField("timeout", "%q is longer than the server allows; write at most %q and wait again if the job is still running", s, maxWait.String())
	}
	return d, nil
}

// fieldName returns k as it can be shown: itself, or quoted when it is
// empty or holds spaces, control characters or bytes that are not UTF-8.
func fieldName(k string) string {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' || r == utf8.RuneError }) {
		return strconv.Quote(k)
	}
	return k
}
