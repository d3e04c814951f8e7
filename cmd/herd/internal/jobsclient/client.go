// Package jobsclient is the HTTP client of the jobs API that
// jobs/jobshttp serves (and `herd demo` with it): what `herd jobs` uses to
// submit, read, wait for, cancel and retry jobs and to read queue stats.
//
// Every answer other than success is an *APIError carrying the server's
// message, which names the field at fault; a server that cannot be reached
// is an *UnreachableError that says how to start one.
package jobsclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

// EnvURL is the environment variable that gives the API's URL when no
// --url flag does.
const EnvURL = "HERD_JOBS_URL"

// DefaultURL is where `herd demo` serves the API by default.
const DefaultURL = "http://127.0.0.1:3000"

// maxAnswer bounds the bytes read from one answer (results can be large).
const maxAnswer = 256 << 20

// DefaultTimeout bounds a request that is not a wait, when
// Client.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Client talks to one jobs API. The zero value talks to DefaultURL with
// http.DefaultClient.
type Client struct {
	// URL is where the API is mounted, such as "http://127.0.0.1:3000" or
	// "http://host/api"; DefaultURL if empty.
	URL string
	// HTTP sends the requests; http.DefaultClient if nil.
	HTTP *http.Client
	// Timeout bounds each request, answer included; a wait's gets its
	// wait on top. 0 means DefaultTimeout.
	Timeout time.Duration
}

// APIError is an answer of the server other than success.
type APIError struct {
	Status     int    // the HTTP status
	Message    string // the server's error text
	Field      string // the field at fault, if one is
	RetryAfter time.Duration
}

func (e *APIError) Error() string { return e.Message }

// NotFound reports whether the error is a 404.
func (e *APIError) NotFound() bool { return e.Status == http.StatusNotFound }

// UnreachableError is a request that got no answer.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the jobs API at %s (%v); start it with `herd demo`, or give its address with --url or %s", e.URL, rootCause(e.Err), EnvURL)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// rootCause drops the wrapping of url.Error and net.OpError to keep the
// message short.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

func (c *Client) base() string {
	u := c.URL
	if u == "" {
		u = DefaultURL
	}
	return strings.TrimRight(u, "/")
}

func (c *Client) http() *http.Client {
	if c.HTTP == nil {
		return http.DefaultClient
	}
	return c.HTTP
}

// do sends a request and decodes a successful answer into out, within
// the client's timeout plus extra. It returns the status.
func (c *Client) do(ctx context.Context, method, path string, body any, out any, extra ...time.Duration) (int, error) {
	limit := c.Timeout
	if limit <= 0 {
		limit = DefaultTimeout
	}
	for _, d := range extra {
		limit += d
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base()+path, rd)
	if err != nil {
		return 0, fmt.Errorf("the jobs API URL %q: %w", c.base(), err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		if parent.Err() != nil {
			return 0, parent.Err()
		}
		if ctx.Err() != nil {
			return 0, fmt.Errorf("%s %s%s: no answer within %v; is the server overloaded or stuck?", method, c.base(), path, limit)
		}
		return 0, &UnreachableError{URL: c.base(), Err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, apiError(resp, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: the answer is not the jobs API's JSON (%v); is %s a jobs API?", method, path, err, c.base())
		}
	}
	return resp.StatusCode, nil
}

// apiError reads an error answer.
func apiError(resp *http.Response, b []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var er jobshttp.ErrorResponse
	if json.Unmarshal(b, &er) == nil && er.Error != "" {
		e.Message, e.Field = er.Error, er.Field
	} else {
		text := strings.TrimSpace(string(b))
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		e.Message = fmt.Sprintf("%s %s: %s %s", resp.Request.Method, resp.Request.URL.Path, resp.Status, text)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

func jobPath(id string) string { return "/jobs/" + url.PathEscape(id) }

// Submit submits a job and returns its ID.
func (c *Client) Submit(ctx context.Context, req jobshttp.SubmitRequest) (string, error) {
	var r jobshttp.SubmitResponse
	_, err := c.do(ctx, "POST", "/jobs", req, &r)
	return r.ID, err
}

// Get returns the job.
func (c *Client) Get(ctx context.Context, id string) (jobs.Info, error) {
	var info jobs.Info
	_, err := c.do(ctx, "GET", jobPath(id), nil, &info)
	return info, err
}

// WaitOnce asks the server to wait for the job for up to timeout (0: the
// server's default) and returns the job as it is at the end of the wait.
func (c *Client) WaitOnce(ctx context.Context, id string, timeout time.Duration) (jobs.Info, error) {
	path := jobPath(id) + "/wait"
	if timeout > 0 {
		path += "?timeout=" + url.QueryEscape(timeout.String())
	}
	var info jobs.Info
	_, err := c.do(ctx, "GET", path, nil, &info, timeout, jobshttp.DefaultWaitTimeout)
	return info, err
}

// waitStep is the wait each request of Wait asks the server for.
const waitStep = 5 * time.Minute

// Wait returns the job once it has ended, or when ctx is done. It asks the
// server to wait in steps of at most five minutes, each a single request
// that the server answers when the job ends.
func (c *Client) Wait(ctx context.Context, id string) (jobs.Info, error) {
	for {
		step := waitStep
		if dl, ok := ctx.Deadline(); ok {
			step = min(step, max(time.Until(dl), time.Millisecond))
		}
		info, err := c.WaitOnce(ctx, id, step)
		var ae *APIError
		if errors.As(err, &ae) && ae.Field == "timeout" {
			// A server with a shorter MaxWait: use its default.
			info, err = c.WaitOnce(ctx, id, 0)
		}
		if err != nil || info.State.Final() {
			return info, err
		}
		if ctx.Err() != nil {
			return info, ctx.Err()
		}
	}
}

// Cancel cancels the job and returns it as it is after.
func (c *Client) Cancel(ctx context.Context, id string) (jobs.Info, error) {
	var info jobs.Info
	_, err := c.do(ctx, "POST", jobPath(id)+"/cancel", nil, &info)
	return info, err
}

// Retry queues a failed or cancelled job again and returns it as it is
// after.
func (c *Client) Retry(ctx context.Context, id string) (jobs.Info, error) {
	var info jobs.Info
	_, err := c.do(ctx, "POST", jobPath(id)+"/retry", nil, &info)
	return info, err
}

// List returns one page of jobs.
func (c *Client) List(ctx context.Context, f jobs.Filter) (jobshttp.ListResponse, error) {
	q := url.Values{}
	for k, v := range map[string]string{"state": string(f.State), "queue": f.Queue, "kind": f.Kind, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Newest {
		q.Set("order", jobshttp.OrderNewest)
	}
	path := "/jobs"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var page jobshttp.ListResponse
	_, err := c.do(ctx, "GET", path, nil, &page)
	return page, err
}

// Stats returns the queues' statistics.
func (c *Client) Stats(ctx context.Context) ([]jobs.QueueStats, error) {
	var r jobshttp.QueuesResponse
	_, err := c.do(ctx, "GET", "/queues", nil, &r)
	return r.Queues, err
}
