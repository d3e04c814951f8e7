package jobshttp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/herdrun/herd/jobs"
)

// Event names in the stream of GET /jobs/{id}/events. Each event's data is
// the job's Info as one line of JSON.
const (
	// EventState is sent first, with the job as it is, and then for every
	// change of state, and for any other change that is not progress (a
	// running job's start and worker, once they are stored). The stream
	// ends after the one whose state is final.
	EventState = "state"
	// EventProgress is sent for a progress update (the fraction or the
	// note) within the same state.
	EventProgress = "progress"
)

// events streams the job's changes as Server-Sent Events until the job
// ends or the client goes away.
func (s *server) events(w http.ResponseWriter, r *http.Request) {
	if e := checkParams(r.URL.Query(), nil); e != nil {
		s.fail(w, r, e)
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel() // ends the watch when the job has ended
	id := r.PathValue("id")
	// Read the job first, so that an unknown id is a plain 404.
	if _, err := s.c.Get(ctx, id); err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	ch, err := s.c.Watch(ctx, id)
	if err != nil {
		s.fail(w, r, s.jobsError(err, ""))
		return
	}
	// Each write gets its own deadline: a client that stops reading ends
	// the stream instead of holding the handler forever, and a server's
	// WriteTimeout does not cut a stream that is alive.
	deadline := func() { rc.SetWriteDeadline(time.Now().Add(writeTimeout)) }
	deadline()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	var (
		seq      int
		last     jobs.Info
		lastData []byte
	)
	for {
		select {
		case <-ctx.Done():
			return // Watch closes ch after ctx
		case <-tick.C:
			deadline()
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case info, ok := <-ch:
			if !ok {
				return
			}
			data, err := json.Marshal(info)
			if err != nil {
				return
			}
			if bytes.Equal(data, lastData) {
				continue // nothing changed: the watch may repeat the job as it began
			}
			seq++
			deadline()
			name := EventState
			if seq > 1 && info.State == last.State && (info.Progress != last.Progress || info.Note != last.Note) {
				name = EventProgress
			}
			last, lastData = info, data
			if _, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", seq, name, data); err != nil || rc.Flush() != nil {
				return
			}
			if info.State.Final() {
				return
			}
		}
	}
}
