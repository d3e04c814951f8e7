package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// fill puts jobs in every state into c, with a worker that then stops:
// it returns the IDs by what they are.
func fill(t *testing.T, c *Client) map[string]string {
	t.Helper()
	ctx := bg(t)
	big := strings.Repeat("x", DefaultInlineResult+100)
	Register(c, "add", func(ctx context.Context, j *Job[addArgs]) (int, error) { return j.Args.A + j.Args.B, nil })
	Register(c, "big", func(ctx context.Context, j *Job[struct{}]) (string, error) { return big, nil })
	Register(c, "fail", func(ctx context.Context, j *Job[struct{}]) (int, error) {
		return 0, fmt.Errorf("%w: no such file", ErrPermanent)
	})
	ids := map[string]string{}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, WorkOptions{}) }()
	for _, k := range []struct{ name, kind string }{{"ok", "add"}, {"big", "big"}, {"failed", "fail"}, {"retried", "fail"}} {
		id, err := c.Submit(ctx, k.kind, addArgs{2, 3}, SubmitOptions{Priority: PriorityHigh})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Wait(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids[k.name] = id
	}
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	// No worker from here on.
	for _, k := range []struct {
		name string
		o    SubmitOptions
	}{
		{"queued", SubmitOptions{Queue: "q2", Priority: PriorityLow, MaxAttempts: 7}},
		{"scheduled", SubmitOptions{Delay: time.Hour}},
		{"soon", SubmitOptions{RunAt: time.Now().Add(300 * time.Millisecond)}},
		{"cancelled", SubmitOptions{}},
		{"unique", SubmitOptions{UniqueKey: "report-2026-11"}},
	} {
		id, err := c.Submit(ctx, "add", addArgs{1, 1}, k.o)
		if err != nil {
			t.Fatal(err)
		}
		ids[k.name] = id
	}
	if err := c.Cancel(ctx, ids["cancelled"]); err != nil {
		t.Fatal(err)
	}
	if err := c.Retry(ctx, ids["retried"]); err != nil { // generation 1, queued
		t.Fatal(err)
	}
	return ids
}

// TestMoveToCluster: an embedded store is exported, imported into a
// three-node cluster at R3 (twice: nothing doubles), and its jobs run
// there; then the cluster is exported back into an embedded store.
func TestMoveToCluster(t *testing.T) {
	ctx := bg(t)
	src := open(t, Config{})
	ids := fill(t, src)
	before := map[string]Info{}
	for name, id := range ids {
		in, err := src.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		before[name] = in
	}
	var file bytes.Buffer
	st, err := src.Export(ctx, &file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Jobs != len(ids) || st.Kinds != 3 || st.UniqueKeys != 1 {
		t.Fatalf("export: %+v; want %d jobs, 3 kinds, 1 unique key\n%s", st, len(ids), file.String())
	}
	_ = src.Close()
	time.Sleep(400 * time.Millisecond) // "soon" is due when it is imported
	path := filepath.Join(t.TempDir(), "jobs.jsonl")
	if err := os.WriteFile(path, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	urls := startCluster(t)
	dst := open(t, Config{URLs: urls, Replicas: 3})
	for round := range 2 {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := dst.Import(ctx, f, ImportOptions{})
		f.Close()
		if err != nil {
			t.Fatalf("import %d: %v", round, err)
		}
		want := MoveStats{Jobs: len(ids), Kinds: 3, UniqueKeys: 1}
		if round == 1 {
			want = MoveStats{Skipped: len(ids), Kinds: 3}
		}
		if st.Jobs != want.Jobs || st.Skipped != want.Skipped || st.Kinds != want.Kinds || st.UniqueKeys != want.UniqueKeys {
			t.Fatalf("import %d: %+v; want %+v", round, st, want)
		}
	}
	// Ended jobs read as they were, the big result from the object store.
	for _, name := range []string{"ok", "big", "failed", "cancelled"} {
		in, err := dst.Get(ctx, ids[name])
		if err != nil {
			t.Fatal(err)
		}
		b := before[name]
		if in.State != b.State || string(in.Result) != string(b.Result) || in.Error != b.Error || in.Attempt != b.Attempt ||
			!in.Created.Equal(b.Created) || !in.Finished.Equal(b.Finished) || in.Worker != b.Worker || in.Priority != b.Priority {
			t.Errorf("%s: after the move\n%+v\nwant\n%+v", name, in, b)
		}
	}
	for name, want := range map[string]State{"queued": StateQueued, "scheduled": StateScheduled, "soon": StateQueued, "retried": StateQueued, "unique": StateQueued} {
		in, err := dst.Get(ctx, ids[name])
		if err != nil || in.State != want {
			t.Errorf("%s: %v %v, want %s", name, in.State, err, want)
		}
	}
	// A submitter on the cluster knows the kinds before any worker runs,
	// and the unique key still names its job.
	sub := open(t, Config{URLs: urls})
	id, err := sub.Submit(ctx, "add", addArgs{1, 2}, SubmitOptions{UniqueKey: "report-2026-11"})
	if err != nil || id != ids["unique"] {
		t.Fatalf("Submit with the unique key: %s, %v; want %s", id, err, ids["unique"])
	}
	// Workers on the cluster run what waits; a failed job can be retried.
	Register(dst, "add", func(ctx context.Context, j *Job[addArgs]) (int, error) { return j.Args.A + j.Args.B, nil })
	Register(dst, "fail", func(ctx context.Context, j *Job[struct{}]) (int, error) { return 9, nil })
	work(t, dst, WorkOptions{Queues: map[string]QueueConfig{DefaultQueue: {}, "q2": {}}})
	if err := dst.Retry(ctx, ids["failed"]); err != nil {
		t.Fatal(err)
	}
	for name, result := range map[string]string{"queued": "2", "soon": "2", "retried": "9", "unique": "2", "failed": "9"} {
		in, err := dst.Wait(ctx, ids[name])
		if err != nil || in.State != StateSucceeded || string(in.Result) != result {
			t.Errorf("%s on the cluster: %+v, %v; want succeeded with %s", name, in, err, result)
		}
		if name == "queued" && (in.MaxAttempts != 7 || in.Queue != "q2" || in.Priority != PriorityLow) {
			t.Errorf("queued: options lost: %+v", in)
		}
	}

	// And back: the cluster into an embedded store.
	file.Reset()
	if st, err = dst.Export(ctx, &file); err != nil {
		t.Fatal(err)
	}
	back := open(t, Config{})
	st2, err := back.Import(ctx, &file, ImportOptions{})
	if err != nil || st2.Jobs != st.Jobs || st2.Jobs != len(ids) {
		t.Fatalf("back: exported %+v, imported %+v, %v", st, st2, err)
	}
	in, err := back.Get(ctx, ids["big"])
	if err != nil || string(in.Result) != string(before["big"].Result) {
		t.Fatalf("big result back: %d bytes, %v", len(in.Result), err)
	}
	in, err = back.Get(ctx, ids["scheduled"])
	if err != nil || in.State != StateScheduled || !in.RunAt.Equal(before["scheduled"].RunAt) {
		t.Fatalf("scheduled back: %+v, %v", in, err)
	}
}

// TestImportCutShort: a file without its end line imports what it has and
// says it was cut; the whole file then adds only the rest.
func TestImportCutShort(t *testing.T) {
	ctx := bg(t)
	src := open(t, Config{})
	_ = src.Declare(ctx, "k")
	for range 5 {
		if _, err := src.Submit(ctx, "k", nil, SubmitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var file bytes.Buffer
	if _, err := src.Export(ctx, &file); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(file.String(), "\n")
	cut := strings.Join(lines[:4], "") // header and 3 jobs
	dst := open(t, Config{})
	st, err := dst.Import(ctx, strings.NewReader(cut), ImportOptions{})
	var ie *ImportError
	if !errors.As(err, &ie) || ie.Line != 5 || !strings.Contains(err.Error(), "cut short") || !errors.Is(err, ErrBadImport) {
		t.Fatalf("cut file: %v", err)
	}
	if st.Jobs != 3 {
		t.Fatalf("cut file stored %d jobs, want 3", st.Jobs)
	}
	st, err = dst.Import(ctx, &file, ImportOptions{})
	if err != nil || st.Jobs != 2 || st.Skipped != 3 {
		t.Fatalf("whole file: %+v, %v; want 2 stored, 3 skipped", st, err)
	}
	p, err := dst.List(ctx, Filter{})
	if err != nil || len(p.Jobs) != 5 {
		t.Fatalf("List: %d jobs, %v", len(p.Jobs), err)
	}
}

// TestImportBadLines: each bad line is refused with its line number and
// field, and nothing after it is stored.
func TestImportBadLines(t *testing.T) {
	ctx := bg(t)
	c := open(t, Config{})
	const h = `{"herd_jobs":1}` + "\n"
	const job = `{"type":"job","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","kind":"k","queue":"default","state":"queued","max_attempts":3,"timeout":"30m0s"`
	for _, tc := range []struct {
		in          string
		line        int
		field, want string
	}{
		{"", 1, "", "empty"},
		{`{"type":"job"}` + "\n", 1, "", "not a herd jobs export"},
		{"hello\n", 1, "", "not a herd jobs export"},
		{`{"herd_jobs":2}` + "\n", 1, "herd_jobs", "newer than this herd"},
		{`{"herd_jobs":"1"}` + "\n", 1, "herd_jobs", "want an integer, not a JSON string"},
		{h + "\n\n" + `{"type":"jobs"}`, 4, "type", `"jobs"`},
		{h + `{"id":1}`, 2, "type", "missing"},
		{h + `[1]`, 2, "", "not a JSON object"},
		{h + job + `,"state":"done"}`, 2, "state", `"done"`},
		{h + job + `,"bogus":1}`, 2, "", `unknown field "bogus"`},
		{h + job + `,"max_attempts":0}`, 2, "max_attempts", "use 1 to 100"},
		{h + job + `,"max_attempts":"3"}`, 2, "max_attempts", "want an integer, not a JSON string"},
		{h + job + `,"timeout":"30"}`, 2, "timeout", "duration"},
		{h + job + `,"id":"01ARZ3NDEKTSV4RRFFQ69G5FA"}`, 2, "id", "not a ULID"},
		{h + job + `,"kind":"a b"}`, 2, "kind", "use letters"},
		{h + job + `,"queue":"a.b"}`, 2, "queue", `"a.b"`},
		{h + job + `,"priority":"urgent"}`, 2, "priority", "urgent"},
		{h + job + `,"priority":3}`, 2, "priority", "3"},
		{h + job + `,"created":"yesterday"}`, 2, "created", "RFC 3339"},
		{h + job + `,"state":"scheduled"}`, 2, "run_at", "missing"},
		{h + job + `,"progress":2}`, 2, "progress", "fraction"},
		{h + job + `,"args":{"a":}}`, 2, "", "not valid JSON"},
		{h + job + `} {}`, 2, "", "after top-level value"},
		{h + `{"type":"kind","name":""}`, 2, "name", "1 to 200"},
		{h + `{"type":"unique","key":"k","id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","expires":"soon"}`, 2, "expires", "RFC 3339"},
		{h + `{"type":"end","jobs":1,"kinds":0}`, 2, "unique", "count"},
		{h + `{"type":"end","jobs":1,"kinds":0,"unique":0}`, 2, "", "counts 1 jobs"},
		{h + `{"type":"end","jobs":0,"kinds":0,"unique":0}` + "\n" + job + "}", 3, "", "after the end line"},
		{h + job + "}", 3, "", "without its end line"},
		{h + job + `,"note":"` + strings.Repeat("n", 300) + `"}`, 2, "", "longer than 200 bytes"},
	} {
		_, err := c.Import(ctx, strings.NewReader(tc.in), ImportOptions{MaxLine: 200})
		var ie *ImportError
		if !errors.As(err, &ie) || ie.Line != tc.line || ie.Field != tc.field || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadImport) {
			t.Errorf("%q:\n got %v (%+v)\nwant line %d, field %q, %q", tc.in, err, ie, tc.line, tc.field, tc.want)
		}
	}
	if p, err := c.List(ctx, Filter{}); err != nil || len(p.Jobs) != 1 {
		// Only the job line before "after the end line" and "without its
		// end line" (the same ID) is stored.
		t.Fatalf("List: %+v, %v", p, err)
	}
}

// TestStoreInUse: a second Open of an embedded store in use fails at once
// and names the holder; after Close the store opens again.
func TestStoreInUse(t *testing.T) {
	dir := t.TempDir()
	ctx := bg(t)
	c, err := Open(ctx, Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, Config{Dir: dir})
	if !errors.Is(err, ErrStoreInUse) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second Open: %v", err)
	}
	_ = c.Close()
	c = open(t, Config{Dir: dir})
	_ = c.Close()
}

// TestImportBatches: more jobs than one batch of lookups, and a job line
// twice in one file: each job is stored once, and a second import stores
// nothing.
func TestImportBatches(t *testing.T) {
	ctx := bg(t)
	src := open(t, Config{})
	_ = src.Declare(ctx, "k")
	const n = 2*moveBatch + 88
	reqs := make([]Request, n)
	for i := range reqs {
		reqs[i] = Request{Kind: "k", Args: i}
	}
	if _, err := src.SubmitMany(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	if st, err := src.Export(ctx, &file); err != nil || st.Jobs != n {
		t.Fatalf("export: %+v, %v", st, err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(file.String(), "\n"), "\n")
	// The first job again, in the same batch as itself, before the end line.
	dup := append(append(append([]string{}, lines[:3]...), lines[1]), lines[3:len(lines)-1]...)
	dup = append(dup, fmt.Sprintf(`{"type":"end","jobs":%d,"kinds":0,"unique":0}`+"\n", n+1))
	in := strings.Join(dup, "")
	dst := open(t, Config{})
	for round, want := range []MoveStats{{Jobs: n, Skipped: 1}, {Skipped: n + 1}} {
		st, err := dst.Import(ctx, strings.NewReader(in), ImportOptions{})
		if err != nil || st.Jobs != want.Jobs || st.Skipped != want.Skipped {
			t.Fatalf("import %d: %+v, %v; want %d stored, %d skipped", round, st, err, want.Jobs, want.Skipped)
		}
	}
	seen := 0
	for f := (Filter{Limit: 1000}); ; {
		p, err := dst.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		seen += len(p.Jobs)
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	// One work message per job (and the stream's keep message): List
	// would show one job for two messages of an ID.
	si, err := dst.work.Info(ctx)
	if err != nil || seen != n || si.State.Msgs != n+1 {
		t.Fatalf("after import: %d jobs listed, %d messages, %v; want %d and %d", seen, si.State.Msgs, err, n, n+1)
	}
}

// TestEachMsgBatches: eachMsg reads a stream of more messages than one
// batched direct get answers (1,000) in order, each once, and stops at
// its end; lastMsgs answers for the subjects that have a message only.
func TestEachMsgBatches(t *testing.T) {
	ctx := bg(t)
	c := open(t, Config{})
	_ = c.Declare(ctx, "k")
	reqs := make([]Request, 2500)
	for i := range reqs {
		reqs[i] = Request{Kind: "k", Args: i}
	}
	ids, err := c.SubmitMany(ctx, reqs)
	if err != nil {
		t.Fatal(err)
	}
	si, err := c.work.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	err = c.eachMsg(ctx, c.workStream(), c.cfg.Prefix+".>", func(m *nats.Msg) error {
		s, err := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
		if err != nil {
			return fmt.Errorf("message %d: Nats-Sequence: %w", len(seqs), err)
		}
		if n := len(seqs); n > 0 && s <= seqs[n-1] {
			return fmt.Errorf("message %d: sequence %d after %d", n, s, seqs[n-1])
		}
		seqs = append(seqs, s)
		return nil
	})
	if err != nil || uint64(len(seqs)) != si.State.Msgs {
		t.Fatalf("eachMsg: %d messages, %v; want the stream's %d", len(seqs), err, si.State.Msgs)
	}
	stop := errors.New("stop")
	n := 0
	err = c.eachMsg(ctx, c.workStream(), c.cfg.Prefix+".>", func(*nats.Msg) error {
		if n++; n == 1500 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 1500 {
		t.Fatalf("eachMsg stopped by fn: %d messages, %v", n, err)
	}
	have, waits, err := c.present(ctx, append(ids[:10:10], newID()))
	if err != nil || len(have) != 0 || len(waits) != 10 {
		t.Fatalf("present: %d records, %d waiting, %v; want 0 and 10", len(have), len(waits), err)
	}
}
