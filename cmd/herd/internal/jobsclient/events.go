package jobsclient

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/herdrun/herd/jobs"
)

// maxEventLine bounds one line of an event stream (a job's Info as JSON,
// result included).
const maxEventLine = 64 << 20

// Event is one event of GET /jobs/{id}/events.
type Event struct {
	Name string    // jobshttp.EventState or jobshttp.EventProgress
	Info jobs.Info // the job after the change
}

// Events follows the job's event stream, calling f for each event, until
// the stream ends after the job's final state (it returns that state's
// Info), f returns an error, or ctx is done.
func (c *Client) Events(ctx context.Context, id string, f func(Event) error) (jobs.Info, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.base()+jobPath(id)+"/events", nil)
	if err != nil {
		return jobs.Info{}, fmt.Errorf("the jobs API URL %q: %w", c.base(), err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.http().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return jobs.Info{}, ctx.Err()
		}
		return jobs.Info{}, &UnreachableError{URL: c.base(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return jobs.Info{}, apiError(resp, b)
	}
	var last jobs.Info
	err = ReadEvents(resp.Body, func(ev Event) error {
		last = ev.Info
		return f(ev)
	})
	if err == nil && !last.State.Final() {
		err = fmt.Errorf("the event stream of job %s ended before the job did (state %q)", id, last.State)
	}
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return last, err
}

// ReadEvents reads a Server-Sent Events stream of jobs (as jobshttp writes
// it) from r and calls f for each event, until r ends (nil) or f returns
// an error. Comment lines and fields other than event and data are
// skipped; an event whose data is not a job is an error.
func ReadEvents(r io.Reader, f func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	var (
		name string
		data strings.Builder
	)
	for sc.Scan() {
		line := sc.Text()
		if line == "" { // the end of an event
			if data.Len() > 0 {
				var info jobs.Info
				if err := json.Unmarshal([]byte(data.String()), &info); err != nil {
					return fmt.Errorf("event %q: its data is not a job: %v", name, err)
				}
				if name == "" {
					name = "message"
				}
				if err := f(Event{Name: name, Info: info}); err != nil {
					return err
				}
			}
			name = ""
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("an event line is longer than %d bytes", maxEventLine)
		}
		return err
	}
	return nil
}
