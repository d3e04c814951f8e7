package jobs

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Moving jobs between stores: Export writes every job of a store, with
// the kinds and unique keys, as JSON lines; Import reads them into another
// store. JetStream has no in-place move from a single server to a cluster,
// so this is how an embedded store (Config.Dir) becomes a cluster
// (Config.URLs) and back. The format is in Export's doc.

// ExportVersion is the version of the export format that Export writes
// and the newest that Import reads.
const ExportVersion = 1

// DefaultMaxImportLine bounds one line of an import when
// ImportOptions.MaxLine is zero: a job line carries its result inline.
const DefaultMaxImportLine = 256 << 20

// MoveStats counts what Export wrote or Import read.
type MoveStats struct {
	// Jobs is the job lines written (Export) or the jobs stored (Import).
	Jobs int
	// Skipped is, for Import, the job lines whose job the store had
	// already (an earlier import, or a job with the same ID): left as
	// they are.
	Skipped int
	// Kinds and UniqueKeys are the kind and unique lines written or
	// stored; expired unique keys are neither.
	Kinds, UniqueKeys int
	// ByState counts the job lines by the state they carry.
	ByState map[State]int
}

func (s *MoveStats) count(st State) {
	if s.ByState == nil {
		s.ByState = map[State]int{}
	}
	s.ByState[st]++
}

// ErrBadImport is matched (errors.Is) by an *ImportError about the file's
// content, not about the store.
var ErrBadImport = errors.New("jobs: bad import file")

// ImportError names the line of an import that failed: a bad line (Err is
// nil; it matches ErrBadImport) or a store error while storing it (Err).
type ImportError struct {
	Line    int    // 1-based
	Field   string // the field at fault; "" for the line as a whole
	Problem string // what is wrong and what to write instead
	Err     error  // the store's error, if the line was good
}

// Error returns "jobs: import line <Line>: ", the field if there is one,
// the problem, and the store's error if there is one.
func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "jobs: import line %d: ", e.Line)
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Problem)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the store's error.
func (e *ImportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBadImport) true for a bad line.
func (e *ImportError) Is(target error) bool { return target == ErrBadImport && e.Err == nil }

// The lines of the format.
type (
	headerLine struct {
		Version  int    `json:"herd_jobs"`
		Prefix   string `json:"prefix,omitempty"`
		Exported string `json:"exported,omitempty"`
	}
	kindLine struct {
		Type   string `json:"type"`
		Name   string `json:"name"`
		Worker string `json:"worker,omitempty"`
	}
	uniqueLine struct {
		Type    string `json:"type"`
		Key     string `json:"key"`
		ID      string `json:"id"`
		Expires string `json:"expires"`
	}
	jobLine struct {
		Type        string          `json:"type"`
		ID          string          `json:"id"`
		Kind        string          `json:"kind"`
		Queue       string          `json:"queue"`
		Priority    json.RawMessage `json:"priority,omitempty"`
		State       State           `json:"state"`
		Gen         int             `json:"gen,omitempty"`
		Attempt     int             `json:"attempt,omitempty"`
		MaxAttempts int             `json:"max_attempts"`
		Timeout     string          `json:"timeout"`
		Progress    float64         `json:"progress,omitempty"`
		Note        string          `json:"note,omitempty"`
		Args        json.RawMessage `json:"args,omitempty"`
		Result      json.RawMessage `json:"result,omitempty"`
		Error       string          `json:"error,omitempty"`
		Retried     int             `json:"retried,omitempty"`
		Created     string          `json:"created,omitempty"`
		Started     string          `json:"started,omitempty"`
		Finished    string          `json:"finished,omitempty"`
		RunAt       string          `json:"run_at,omitempty"`
		Worker      string          `json:"worker,omitempty"`
	}
	endLine struct {
		Type   string `json:"type"`
		Jobs   *int   `json:"jobs"`
		Kinds  *int   `json:"kinds"`
		Unique *int   `json:"unique"`
	}
)

func stampText(s stamp) string {
	if s == 0 {
		return ""
	}
	return s.time().Format(time.RFC3339Nano)
}

func toJobLine(r *record, result json.RawMessage) jobLine {
	return jobLine{
		Type: "job", ID: r.ID, Kind: r.Kind, Queue: r.Queue, Priority: json.RawMessage(strconv.Quote(r.Priority.String())),
		State: r.State, Gen: r.Gen, Attempt: r.Attempt, MaxAttempts: r.MaxAttempts, Timeout: r.Timeout.String(),
		Progress: r.Progress, Note: r.Note, Args: r.Args, Result: result, Error: r.Error, Retried: r.Retried,
		Created: stampText(r.Created), Started: stampText(r.Started), Finished: stampText(r.Finished),
		RunAt: stampText(r.RunAt), Worker: r.Worker,
	}
}

// Export writes every job of the store to w, with the kinds workers
// registered and the unique keys that live: the jobs
// that wait (queued, scheduled, or between attempts), that run, and that
// ended (succeeded with their results, failed and cancelled ones that may
// be retried). It streams: it holds a batch of jobs at a time (256,
// checked against the records in one request), however many the store
// has. It reads the store as it is, without a snapshot, so run it
// while no worker or submitter uses the store (a job that changes state
// meanwhile may appear twice; Import keeps the first line of an ID).
//
// The format, version 1 (ExportVersion), is one JSON object per line:
//
//	{"herd_jobs":1,"prefix":"herd","exported":"2026-12-07T14:00:00Z"}    the header, always first
//	{"type":"kind","name":"resize","worker":"web-1:4242"}                 a kind a worker registered
//	{"type":"unique","key":"report-2026-11","id":"01J...","expires":"…"}  a unique key and its job
//	{"type":"job","id":"01J...","kind":"resize","queue":"default",        a job, in any state
//	 "priority":"normal","state":"queued","max_attempts":3,"timeout":"30m0s",
//	 "args":{...},"created":"…", ...}
//	{"type":"end","jobs":1,"kinds":1,"unique":1}                          the last line: the counts
//
// A job line has the fields of Info (result inlined, however large, from
// the object store) plus "gen" (the generation, bumped by Retry),
// "timeout" (a duration such as "90s"), and "retried" (attempts after the
// first). Times are RFC 3339; "priority" is low, normal, high or critical
// (or -1 to 2). Empty fields are left out. The end line lets Import tell a
// complete file from one cut short.
func (c *Client) Export(ctx context.Context, w io.Writer) (MoveStats, error) {
	var st MoveStats
	if c.isClosed() {
		return st, ErrClosed
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	write := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("jobs: export: %w", err)
		}
		return nil
	}
	err := write(headerLine{Version: ExportVersion, Prefix: c.cfg.Prefix, Exported: time.Now().UTC().Format(time.RFC3339Nano)})
	if err != nil {
		return st, err
	}
	// Kinds.
	err = c.eachMsg(ctx, "KV_"+c.cfg.Prefix+"_kinds", "$KV."+c.cfg.Prefix+"_kinds.>", func(m *nats.Msg) error {
		name := kvKey(m, c.cfg.Prefix+"_kinds")
		if name == "" || checkKind(name) != nil {
			return nil
		}
		st.Kinds++
		return write(kindLine{Type: "kind", Name: name, Worker: string(m.Data)})
	})
	if err != nil {
		return st, err
	}
	// Unique keys that live, with when they expire.
	now := time.Now()
	err = c.eachMsg(ctx, "KV_"+c.cfg.Prefix+"_unique", "$KV."+c.cfg.Prefix+"_unique.>", func(m *nats.Msg) error {
		k := kvKey(m, c.cfg.Prefix+"_unique")
		key, derr := base64.RawURLEncoding.DecodeString(k)
		if k == "" || derr != nil || !validID(string(m.Data)) {
			return nil
		}
		exp, ok := msgExpires(m)
		if !ok || !exp.After(now) {
			return nil
		}
		st.UniqueKeys++
		return write(uniqueLine{Type: "unique", Key: string(key), ID: string(m.Data), Expires: exp.UTC().Format(time.RFC3339Nano)})
	})
	if err != nil {
		return st, err
	}
	// Jobs that only wait (no record yet), then every record. A job has
	// a message or a record (the record is stored before the message is
	// acknowledged), so this order misses none.
	var waiting []*record
	flush := func() error {
		ids := make([]string, len(waiting))
		for i, r := range waiting {
			ids[i] = r.ID
		}
		have, err := c.records(ctx, ids)
		if err != nil {
			return err
		}
		for _, r := range waiting {
			if have[r.ID] != nil {
				continue // exported with the records below
			}
			st.Jobs++
			st.count(r.State)
			if err := write(toJobLine(r, r.Result)); err != nil {
				return err
			}
		}
		waiting = waiting[:0]
		return nil
	}
	err = c.eachMsg(ctx, c.workStream(), c.cfg.Prefix+".>", func(m *nats.Msg) error {
		r, err := decodeRecord(m.Data)
		if err != nil {
			return nil // the keep message
		}
		if waiting = append(waiting, r); len(waiting) == moveBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(waiting) > 0 {
		err = flush()
	}
	if err != nil {
		return st, err
	}
	err = c.eachMsg(ctx, "KV_"+c.stateBucket(), "$KV."+c.stateBucket()+".>", func(m *nats.Msg) error {
		r, err := decodeRecord(m.Data)
		if err != nil {
			return nil // a deleted key
		}
		result := r.Result
		if r.ResultRef {
			if result, err = c.obj.GetBytes(ctx, r.ID); err != nil {
				return c.wrap("export: result of "+r.ID, err)
			}
		}
		st.Jobs++
		st.count(r.State)
		return write(toJobLine(r, result))
	})
	if err != nil {
		return st, err
	}
	jobs, kinds, unique := st.Jobs, st.Kinds, st.UniqueKeys
	if err := write(endLine{Type: "end", Jobs: &jobs, Kinds: &kinds, Unique: &unique}); err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("jobs: export: %w", err)
	}
	return st, nil
}

// kvKey returns the key of a KV bucket's message, "" for a delete, a
// purge or a marker.
func kvKey(m *nats.Msg, bucket string) string {
	if m.Header.Get("KV-Operation") != "" || m.Header.Get("Nats-Marker-Reason") != "" {
		return ""
	}
	k, _ := strings.CutPrefix(m.Header.Get("Nats-Subject"), "$KV."+bucket+".")
	return k
}

// msgExpires returns when a message with a TTL (Nats-TTL) expires.
func msgExpires(m *nats.Msg) (time.Time, bool) {
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
	if err != nil {
		return time.Time{}, false
	}
	v := m.Header.Get(jetstream.MsgTTLHeader)
	ttl, err := time.ParseDuration(v)
	if err != nil {
		n, err := strconv.ParseInt(v, 10, 64) // seconds
		if err != nil || n <= 0 {
			return time.Time{}, false
		}
		ttl = time.Duration(n) * time.Second
	}
	return ts.Add(ttl), true
}

// eachMsg calls fn with every message on subj in the stream, in order,
// with its headers (those of a direct get: Nats-Subject, Nats-Time-Stamp,
// ...), read with batched direct gets: no consumer, and one batch in
// memory at a time. On a replicated store it reads from the stream's
// leader (eachMsgLeader): a follower may lack the newest writes.
func (c *Client) eachMsg(ctx context.Context, stream, subj string, fn func(m *nats.Msg) error) error {
	if c.leaderReads() {
		return c.eachMsgLeader(ctx, stream, subj, fn)
	}
	in, err := c.openInbox(stream)
	if err != nil {
		return err
	}
	defer in.close()
	for seq := uint64(1); ; {
		req := map[string]any{"seq": seq, "batch": 1000, "next_by_subj": subj}
		pending, err := in.directBatch(ctx, req, func(m *nats.Msg) error {
			if s, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64); err == nil && s >= seq {
				seq = s + 1
			}
			return fn(m)
		})
		if err != nil || pending == "0" {
			return err
		}
	}
}

// ImportOptions configures Import. The zero value is ready to use.
type ImportOptions struct {
	// MaxLine bounds one line; DefaultMaxImportLine if zero.
	MaxLine int
}

// Import reads an export (see Export) from r into the store, a line at a
// time, and returns what it stored. It is idempotent: a job keeps its ID,
// and a job the store has already (from an earlier import of the same
// file, in any state since) is skipped, so importing a file twice, or
// again after an import cut short, stores each job once. Waiting jobs are
// stored as work messages whose Nats-Msg-Id is the job ID; a scheduled job
// whose time has passed is queued. A job that was running or between
// attempts when it was exported is queued again and starts from its first
// attempt (the attempt it was in was cut short; Retried keeps the count).
// Ended jobs keep their results, errors and times, and can be retried.
// Kinds are recorded, so Submit accepts them before a worker starts;
// unique keys keep the time they have left. Jobs are checked against the
// store 256 at a time, in two batched reads, and stored in file order.
//
// A bad line stops the import with an *ImportError naming it (matching
// ErrBadImport); the lines before it are stored. So is a file without its
// end line, or with counts that do not match it: the export was cut short.
// Import does not check Config.MaxQueueDepth.
func (c *Client) Import(ctx context.Context, r io.Reader, opts ImportOptions) (MoveStats, error) {
	var st MoveStats
	if c.isClosed() {
		return st, ErrClosed
	}
	max := opts.MaxLine
	if max <= 0 {
		max = DefaultMaxImportLine
	}
	im := &importer{c: c, st: &st, lr: &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}}
	err := im.run(ctx)
	// The lines before an error are stored.
	if ferr := im.flush(ctx); err == nil {
		err = ferr
	}
	return st, err
}

// moveBatch is how many jobs Import checks against the store at once
// (two batched reads: their records and their waiting messages), and
// Export checks for records (one).
const moveBatch = 256

// importer is one Import.
type importer struct {
	c      *Client
	st     *MoveStats
	lr     *lineReader
	counts [3]int // job, kind and unique lines read
	batch  []batchJob
}

type batchJob struct {
	line int
	r    *record
}

func (im *importer) run(ctx context.Context) error {
	c, st, lr := im.c, im.st, im.lr
	header, ended := false, false
	for {
		b, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if ended {
			return &ImportError{Line: lr.line, Problem: "a line after the end line: the end line must be the last"}
		}
		it, err := parseLine(b, lr.line, !header)
		if err != nil {
			return err
		}
		header = true
		if r, ok := it.(*record); ok {
			im.counts[0]++
			st.count(r.State)
			im.batch = append(im.batch, batchJob{lr.line, r})
			if len(im.batch) == moveBatch {
				if err := im.flush(ctx); err != nil {
					return err
				}
			}
			continue
		}
		if err := im.flush(ctx); err != nil {
			return err
		}
		switch it := it.(type) {
		case *kindLine:
			im.counts[1]++
			if err := c.importKind(ctx, it); err != nil {
				return &ImportError{Line: lr.line, Problem: "store kind " + it.Name, Err: err}
			}
			st.Kinds++
		case *uniqueLine:
			im.counts[2]++
			stored, err := c.importUnique(ctx, it)
			if err != nil {
				return &ImportError{Line: lr.line, Problem: "store unique key " + strconv.Quote(it.Key), Err: err}
			}
			if stored {
				st.UniqueKeys++
			}
		case *endLine:
			ended = true
			want := [3]int{*it.Jobs, *it.Kinds, *it.Unique}
			if want != im.counts {
				return &ImportError{Line: lr.line, Problem: fmt.Sprintf("the end line counts %d jobs, %d kinds and %d unique keys, but the file has %d, %d and %d: the file was cut or edited; export it again",
					want[0], want[1], want[2], im.counts[0], im.counts[1], im.counts[2])}
			}
		}
	}
	if !header {
		return &ImportError{Line: 1, Problem: "the file is empty: want an export of `herd jobs export` (Client.Export)"}
	}
	if !ended {
		return &ImportError{Line: lr.line + 1, Problem: "the file ends without its end line: the export was cut short; the jobs before are imported; export again and import the whole file"}
	}
	return nil
}

// flush stores the batched jobs: it reads what the store has of them in
// two requests, stores each job it lacks (in file order, so the first
// line of an ID wins), and waits for the work messages it published.
func (im *importer) flush(ctx context.Context) error {
	batch := im.batch
	im.batch = im.batch[:0]
	if len(batch) == 0 {
		return nil
	}
	c := im.c
	ids := make([]string, len(batch))
	for i, j := range batch {
		ids[i] = j.r.ID
	}
	have, waits, err := c.present(ctx, ids)
	if err != nil {
		return &ImportError{Line: batch[0].line, Problem: fmt.Sprintf("look up the jobs of lines %d to %d", batch[0].line, batch[len(batch)-1].line), Err: err}
	}
	type sent struct {
		batchJob
		f jetstream.PubAckFuture
	}
	var pending []sent
	for _, j := range batch {
		stored, f, err := c.importJob(ctx, j.r, have, waits)
		switch {
		case err != nil:
			return &ImportError{Line: j.line, Problem: "store job " + j.r.ID, Err: err}
		case f != nil:
			pending = append(pending, sent{j, f})
		case stored:
			im.st.Jobs++
		default:
			im.st.Skipped++
		}
	}
	for _, p := range pending {
		select {
		case ack := <-p.f.Ok():
			if ack.Duplicate { // stored meanwhile by another import
				im.st.Skipped++
			} else {
				im.st.Jobs++
			}
		case err := <-p.f.Err():
			return &ImportError{Line: p.line, Problem: "store job " + p.r.ID, Err: err}
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrClosed
		}
	}
	return nil
}

// lineReader reads lines of at most max bytes, counting them; it skips
// blank lines.
type lineReader struct {
	r    *bufio.Reader
	max  int
	line int
	buf  []byte
}

func (lr *lineReader) next() ([]byte, error) {
	for {
		lr.buf = lr.buf[:0]
		for {
			chunk, err := lr.r.ReadSlice('\n')
			if len(lr.buf)+len(chunk) > lr.max+1 {
				return nil, &ImportError{Line: lr.line + 1, Problem: fmt.Sprintf("longer than %d bytes (ImportOptions.MaxLine)", lr.max)}
			}
			lr.buf = append(lr.buf, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF && len(lr.buf) == 0 {
				return nil, io.EOF
			}
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("jobs: import: read line %d: %w", lr.line+1, err)
			}
			break
		}
		lr.line++
		if b := strings.TrimSpace(string(lr.buf)); b != "" {
			return lr.buf, nil
		}
	}
}

// parseLine reads one line of an export: the header when first is set,
// else a *kindLine, *uniqueLine, *record (a job) or *endLine. Every error
// is an *ImportError naming the line and the field.
func parseLine(b []byte, line int, first bool) (any, error) {
	bad := func(field, problem string) error {
		return &ImportError{Line: line, Field: field, Problem: problem}
	}
	if first {
		var h headerLine
		var probe map[string]json.RawMessage
		if json.Unmarshal(b, &probe) != nil || probe["herd_jobs"] == nil {
			return nil, bad("", `not a herd jobs export: its first line must be the header {"herd_jobs":1,...} that herd jobs export writes`)
		}
		if err := strictDecode(b, &h); err != nil {
			return nil, bad(jsonField(err), jsonProblem(err))
		}
		switch {
		case h.Version < 1:
			return nil, bad("herd_jobs", fmt.Sprintf("version %d: want 1", h.Version))
		case h.Version > ExportVersion:
			return nil, bad("herd_jobs", fmt.Sprintf("version %d is newer than this herd reads (%d): import with a newer herd", h.Version, ExportVersion))
		}
		return &h, nil
	}
	var t struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, bad("", "not a JSON object: "+jsonProblem(err))
	}
	var v any
	switch t.Type {
	case "kind":
		v = &kindLine{}
	case "unique":
		v = &uniqueLine{}
	case "job":
		v = &jobLine{}
	case "end":
		v = &endLine{}
	case "":
		return nil, bad("type", `missing: want "job", "kind", "unique" or "end"`)
	default:
		return nil, bad("type", fmt.Sprintf(`%q: want "job", "kind", "unique" or "end"`, t.Type))
	}
	if err := strictDecode(b, v); err != nil {
		return nil, bad(jsonField(err), jsonProblem(err))
	}
	switch v := v.(type) {
	case *kindLine:
		if err := checkKind(v.Name); err != nil {
			return nil, bad("name", err.(*ValidationError).Problem)
		}
		return v, nil
	case *uniqueLine:
		if v.Key == "" {
			return nil, bad("key", "missing: the unique key as given to Submit")
		}
		if !validID(v.ID) {
			return nil, bad("id", fmt.Sprintf("%q is not a ULID (26 characters of Crockford base 32)", v.ID))
		}
		if _, err := time.Parse(time.RFC3339Nano, v.Expires); err != nil {
			return nil, bad("expires", fmt.Sprintf("%q is not an RFC 3339 time such as 2026-12-07T14:00:00Z", v.Expires))
		}
		return v, nil
	case *endLine:
		for _, f := range []struct {
			name string
			n    *int
		}{{"jobs", v.Jobs}, {"kinds", v.Kinds}, {"unique", v.Unique}} {
			if f.n == nil || *f.n < 0 {
				return nil, bad(f.name, "want the count of such lines, 0 or more")
			}
		}
		return v, nil
	}
	return v.(*jobLine).record(bad)
}

// record checks a job line and makes the job's record.
func (l *jobLine) record(bad func(field, problem string) error) (*record, error) {
	r := &record{ID: l.ID, Kind: l.Kind, Queue: l.Queue, State: l.State, Gen: l.Gen, Attempt: l.Attempt,
		MaxAttempts: l.MaxAttempts, Progress: l.Progress, Note: l.Note, Args: l.Args, Result: l.Result,
		Error: l.Error, Retried: l.Retried, Worker: l.Worker}
	if !validID(r.ID) {
		return nil, bad("id", fmt.Sprintf("%q is not a ULID (26 characters of Crockford base 32)", r.ID))
	}
	if err := checkKind(r.Kind); err != nil {
		return nil, bad("kind", err.(*ValidationError).Problem)
	}
	if !validToken(r.Queue) || len(r.Queue) > 100 {
		return nil, bad("queue", fmt.Sprintf("%q: use 1 to 100 letters, digits, '-' and '_'", r.Queue))
	}
	if len(l.Priority) > 0 {
		p, ok := parsePriority(l.Priority)
		if !ok {
			return nil, bad("priority", fmt.Sprintf("%s: use low, normal, high or critical (or -1 to 2)", l.Priority))
		}
		r.Priority = p
	}
	switch r.State {
	case StateQueued, StateScheduled, StateRunning, StateRetrying, StateSucceeded, StateFailed, StateCancelled:
	default:
		return nil, bad("state", fmt.Sprintf("%q: use queued, scheduled, running, retrying, succeeded, failed or cancelled", r.State))
	}
	switch {
	case r.MaxAttempts < 1 || r.MaxAttempts > MaxAttemptsLimit:
		return nil, bad("max_attempts", fmt.Sprintf("%d: use 1 to %d", r.MaxAttempts, MaxAttemptsLimit))
	case r.Attempt < 0 || r.Attempt > r.MaxAttempts:
		return nil, bad("attempt", fmt.Sprintf("%d: use 0 to max_attempts (%d)", r.Attempt, r.MaxAttempts))
	case r.Gen < 0:
		return nil, bad("gen", fmt.Sprintf("%d: use 0 or more", r.Gen))
	case r.Retried < 0:
		return nil, bad("retried", fmt.Sprintf("%d: use 0 or more", r.Retried))
	case !(r.Progress >= 0 && r.Progress <= 1):
		return nil, bad("progress", fmt.Sprintf("%v: use a fraction from 0 to 1", r.Progress))
	}
	d, err := time.ParseDuration(l.Timeout)
	if err != nil || d <= 0 {
		return nil, bad("timeout", fmt.Sprintf("%q: use a positive duration such as 90s or 30m", l.Timeout))
	}
	r.Timeout = d
	for _, f := range []struct {
		name string
		text string
		to   *stamp
	}{{"created", l.Created, &r.Created}, {"started", l.Started, &r.Started}, {"finished", l.Finished, &r.Finished}, {"run_at", l.RunAt, &r.RunAt}} {
		if f.text == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.text)
		if err != nil || t.IsZero() {
			return nil, bad(f.name, fmt.Sprintf("%q is not an RFC 3339 time such as 2026-12-07T14:00:00Z", f.text))
		}
		*f.to = stampOf(t)
	}
	if r.State == StateScheduled && r.RunAt == 0 {
		return nil, bad("run_at", "missing: a scheduled job needs the time it may run")
	}
	if string(r.Args) == "null" {
		r.Args = nil
	}
	if string(r.Result) == "null" {
		r.Result = nil
	}
	// What the store will hold must read back: the same checks as every
	// record read.
	if _, err := decodeRecord(r.encode()); err != nil {
		return nil, bad("", err.Error())
	}
	return r, nil
}

func parsePriority(raw json.RawMessage) (Priority, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for p := PriorityLow; p <= PriorityCritical; p++ {
			if s == p.String() {
				return p, true
			}
		}
		return 0, false
	}
	var n int
	if json.Unmarshal(raw, &n) != nil || n < int(PriorityLow) || n > int(PriorityCritical) {
		return 0, false
	}
	return Priority(n), true
}

// strictDecode decodes one JSON object (the caller has checked that b is
// one) into v, refusing unknown fields.
func strictDecode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	return d.Decode(v)
}

// jsonField names the field a decoding error is about, if any.
func jsonField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return te.Field
	}
	return ""
}

// jsonProblem says what is wrong with a line that did not decode.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("want %s, not a JSON %s", typeWord(te.Type), te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON at byte %d: %v", se.Offset, se)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + ": remove it (this herd reads export version " + strconv.Itoa(ExportVersion) + ")"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// typeWord names a Go type as JSON would write it.
func typeWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "a list"
	}
	return "an object"
}

func (c *Client) importKind(ctx context.Context, k *kindLine) error {
	_, err := c.kinds.Create(ctx, k.Name, []byte(k.Worker))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	c.mu.Lock()
	c.known[k.Name] = true
	c.mu.Unlock()
	return nil
}

// importUnique stores a unique key for the time it has left; it reports
// false for a key that has expired or that the store has already.
func (c *Client) importUnique(ctx context.Context, u *uniqueLine) (bool, error) {
	exp, _ := time.Parse(time.RFC3339Nano, u.Expires)
	left := time.Until(exp)
	if left <= 0 {
		return false, nil
	}
	key := base64.RawURLEncoding.EncodeToString([]byte(u.Key))
	_, err := c.unique.Create(ctx, key, []byte(u.ID), jetstream.KeyTTL(max(left, time.Second)))
	if errors.Is(err, jetstream.ErrKeyExists) {
		return false, nil
	}
	return err == nil, err
}

// present reads, in two batched direct gets, the records of the jobs ids
// and which of them have a waiting message.
func (c *Client) present(ctx context.Context, ids []string) (map[string]*record, map[string]bool, error) {
	have, err := c.records(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	waits := map[string]bool{}
	subjects := make([]string, len(ids))
	for i, id := range ids {
		subjects[i] = c.cfg.Prefix + ".*.*.*." + id
	}
	err = c.lastMsgs(ctx, c.workStream(), subjects, func(m *nats.Msg) {
		subj := m.Header.Get("Nats-Subject")
		waits[subj[strings.LastIndexByte(subj, '.')+1:]] = true
	})
	return have, waits, err
}

// records reads the records of the jobs ids that have one, in one batched
// direct get.
func (c *Client) records(ctx context.Context, ids []string) (map[string]*record, error) {
	have := map[string]*record{}
	subjects := make([]string, len(ids))
	for i, id := range ids {
		subjects[i] = c.stateSubj(id)
	}
	err := c.lastMsgs(ctx, "KV_"+c.stateBucket(), subjects, func(m *nats.Msg) {
		if r, err := decodeRecord(m.Data); err == nil && kvKey(m, c.stateBucket()) == r.ID {
			have[r.ID] = r
		}
	})
	return have, err
}

// lastMsgs calls fn with the last message of each subject (wildcards
// allowed) that has one, in one batched direct get ("multi_last"; at most
// 1,024 subjects, and answers up to the server's max pending bytes). On a
// replicated store it asks the stream's leader (lastMsgsLeader): a
// follower may lack the newest writes.
func (c *Client) lastMsgs(ctx context.Context, stream string, subjects []string, fn func(m *nats.Msg)) error {
	if c.leaderReads() {
		return c.lastMsgsLeader(ctx, stream, subjects, fn)
	}
	in, err := c.openInbox(stream)
	if err != nil {
		return err
	}
	defer in.close()
	pending, err := in.directBatch(ctx, map[string]any{"multi_last": subjects}, func(m *nats.Msg) error {
		fn(m)
		return nil
	})
	if err == nil && pending != "" && pending != "0" {
		err = fmt.Errorf("jobs: read %s: %s answers left out of one batch", stream, pending)
	}
	return err
}

// importJob stores the job unless the store has it (have: the records of
// the batch's jobs; waits: those with a waiting message; both updated
// with what it stores). It reports whether it stored the job, or returns
// the future of the work message it published.
func (c *Client) importJob(ctx context.Context, r *record, have map[string]*record, waits map[string]bool) (bool, jetstream.PubAckFuture, error) {
	cur := have[r.ID]
	if r.State.Final() {
		if cur != nil || waits[r.ID] {
			return false, nil, nil
		}
		if len(r.Result) > DefaultInlineResult {
			if _, err := c.obj.PutBytes(ctx, r.ID, r.Result); err != nil {
				return false, nil, err
			}
			r.Result, r.ResultRef = nil, true
		}
		_, err := c.state.Create(ctx, r.ID, r.encode())
		if errWrongRev(err) {
			return false, nil, nil
		}
		if err != nil {
			return false, nil, err
		}
		have[r.ID] = r
		return true, nil, nil
	}
	// A job that waits or was cut short: queued again (or scheduled, if
	// its time is ahead), from its first attempt.
	r.Attempt, r.Progress, r.Note, r.Started, r.Finished, r.Worker = 0, 0, "", 0, 0, ""
	r.Result, r.ResultRef = nil, false
	r.State = StateQueued
	if r.RunAt != 0 && r.RunAt.time().After(time.Now()) {
		r.State = StateScheduled
	}
	if r.Gen == 0 {
		// Generation 0 waits as a message only, as after Submit.
		if cur != nil {
			return false, nil, nil
		}
	} else {
		// A later generation (after a Retry) needs its record, as Retry
		// leaves it, for a worker to take its message. A record of that
		// generation that still waits is an earlier import cut short
		// before its message was stored.
		switch {
		case cur == nil:
			_, err := c.state.Create(ctx, r.ID, r.encode())
			if errWrongRev(err) {
				return false, nil, nil
			}
			if err != nil {
				return false, nil, err
			}
			have[r.ID] = r
		case cur.Gen != r.Gen || (cur.State != StateQueued && cur.State != StateScheduled):
			return false, nil, nil
		}
	}
	if waits[r.ID] {
		return false, nil, nil
	}
	if err := c.ensureQueue(ctx, r.Queue); err != nil {
		return false, nil, err
	}
	f, err := c.js.PublishMsgAsync(c.message(r))
	if err != nil {
		return false, nil, err
	}
	waits[r.ID] = true
	return false, f, nil
}
