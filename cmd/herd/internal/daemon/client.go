package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"
)

// ErrNoDaemon is wrapped by the error of a call when no daemon listens on
// the socket.
var ErrNoDaemon = errors.New("no daemon is running")

// NoDaemonError reports a socket nobody listens on.
type NoDaemonError struct {
	Sock string
	Err  error
}

// Error names the socket and what to do.
func (e *NoDaemonError) Error() string {
	return fmt.Sprintf("no herd daemon is running on %s: herd start starts one (or herd daemon in the foreground)", e.Sock)
}

// Unwrap returns ErrNoDaemon.
func (e *NoDaemonError) Unwrap() error { return ErrNoDaemon }

// Client calls a daemon over its socket. Its zero value is not usable:
// create it with NewClient.
type Client struct {
	home    Home
	version string
	http    *http.Client
}

// NewClient returns a client of the daemon in home that says it is of
// version (every call but Version, Ping and Kill then fails with a
// *VersionError if the daemon's version differs).
func NewClient(home Home, version string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", home.Sock)
		},
		MaxIdleConns: 2,
	}
	return &Client{home: home, version: version, http: &http.Client{Transport: tr}}
}

// Close closes the client's idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// Home returns the daemon's state directory.
func (c *Client) Home() Home { return c.home }

// do sends a request and decodes a JSON answer into out. An answer with a
// status of 400 or more is an error with the daemon's message, unless out
// is a *Results and the body is one (a command on apps, some of which
// failed): the caller reads them.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 400 {
		if rs, ok := out.(*Results); ok && json.Unmarshal(body, rs) == nil && len(rs.Results) > 0 {
			return nil
		}
		var eb ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error != "" {
			if resp.StatusCode == http.StatusConflict && resp.Header.Get(VersionHeader) != c.version {
				return &VersionError{Client: c.version, Daemon: resp.Header.Get(VersionHeader)}
			}
			return &CallError{Status: resp.StatusCode, Msg: eb.Error}
		}
		return &CallError{Status: resp.StatusCode, Msg: string(bytes.TrimSpace(body))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("the daemon's answer to %s %s: %w", method, path, err)
	}
	return nil
}

// CallError is the daemon's error answer.
type CallError struct {
	Status int
	Msg    string
}

// Error returns the daemon's message.
func (e *CallError) Error() string { return e.Msg }

// send sends a request, checking the socket's owner first.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	if err := CheckOwner(c.home.Sock); err != nil {
		return nil, err
	}
	if err := CheckOwner(c.home.Dir); err != nil {
		return nil, err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://herd"+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(VersionHeader, c.version)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &NoDaemonError{Sock: c.home.Sock, Err: err}
		}
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("the daemon on %s closed the connection: does the socket belong to another user? (%w)", c.home.Sock, err)
		}
		return nil, err
	}
	return resp, nil
}

// Version returns the daemon's version and pid; it works across versions.
func (c *Client) Version(ctx context.Context) (VersionInfo, error) {
	var v VersionInfo
	err := c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
	return v, err
}

// Ping checks that the daemon answers and is of this client's version.
func (c *Client) Ping(ctx context.Context) (VersionInfo, error) {
	v, err := c.Version(ctx)
	if err == nil && v.Version != c.version {
		err = &VersionError{Client: c.version, Daemon: v.Version}
	}
	return v, err
}

// Kill stops every app and then the daemon; it works across versions. It
// returns the daemon's pid.
func (c *Client) Kill(ctx context.Context) (int, error) {
	var out struct {
		PID int `json:"pid"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/kill", struct{}{}, &out)
	return out.PID, err
}

// Update asks the daemon, of any version, to hand over to a daemon of the
// herd binary exe, its apps' sockets included (see UpdateResult).
func (c *Client) Update(ctx context.Context, exe string) (UpdateResult, error) {
	return c.UpdateWith(ctx, UpdateRequest{Exe: exe})
}

// UpdateWith is Update with every field of the request.
func (c *Client) UpdateWith(ctx context.Context, req UpdateRequest) (UpdateResult, error) {
	var out UpdateResult
	err := c.do(ctx, http.MethodPost, "/v1/update", req, &out)
	return out, err
}

// Start starts apps.
func (c *Client) Start(ctx context.Context, specs []Spec) (Results, error) {
	var rs Results
	err := c.do(ctx, http.MethodPost, "/v1/apps", StartRequest{Apps: specs}, &rs)
	return rs, err
}

// List lists the apps.
func (c *Client) List(ctx context.Context) (List, error) {
	var l List
	err := c.do(ctx, http.MethodGet, "/v1/apps", nil, &l)
	return l, err
}

// Describe returns one app with its spec.
func (c *Client) Describe(ctx context.Context, target string) (AppInfo, error) {
	var a AppInfo
	err := c.do(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(target), nil, &a)
	return a, err
}

// Action runs action (stop, restart, reload, delete, scale, signal, flush)
// on target ("all", an id or a name).
func (c *Client) Action(ctx context.Context, target, action string, req ActionRequest) (Results, error) {
	var rs Results
	err := c.do(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(target)+"/"+action, req, &rs)
	return rs, err
}

// Save saves the process list.
func (c *Client) Save(ctx context.Context, force bool) (SaveResult, error) {
	var s SaveResult
	err := c.do(ctx, http.MethodPost, "/v1/save", SaveRequest{Force: force}, &s)
	return s, err
}

// Resurrect restores the saved process list.
func (c *Client) Resurrect(ctx context.Context) (Results, error) {
	var rs Results
	err := c.do(ctx, http.MethodPost, "/v1/resurrect", struct{}{}, &rs)
	return rs, err
}

// Logs calls f with each log line of app ("" for all): the last lines of
// history, then, with follow, every new line until ctx ends.
func (c *Client) Logs(ctx context.Context, app string, lines int, stream string, follow bool, f func(LogLine) error) error {
	q := url.Values{}
	q.Set("lines", fmt.Sprint(lines))
	if app != "" {
		q.Set("app", app)
	}
	if stream != "" {
		q.Set("stream", stream)
	}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.send(ctx, http.MethodGet, "/v1/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(resp.Body)
		var eb ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error != "" {
			if resp.StatusCode == http.StatusConflict {
				return &VersionError{Client: c.version, Daemon: resp.Header.Get(VersionHeader)}
			}
			return &CallError{Status: resp.StatusCode, Msg: eb.Error}
		}
		return &CallError{Status: resp.StatusCode, Msg: string(b)}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l LogLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		if err := f(l); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// Events calls f with each Event (a change of an app's state) until ctx
// ends or f returns an error, which Events returns.
func (c *Client) Events(ctx context.Context, f func(Event) error) error {
	resp, err := c.send(ctx, http.MethodGet, "/v1/events", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(resp.Body)
		return &CallError{Status: resp.StatusCode, Msg: string(bytes.TrimSpace(b))}
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		if err := f(e); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// DaemonPID returns the pid in the Home's pid file, or 0.
func (h Home) DaemonPID() int {
	b, err := os.ReadFile(h.Pid)
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}
