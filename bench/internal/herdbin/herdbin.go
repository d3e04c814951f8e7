// Package herdbin builds the herd command from a source tree and drives
// it, for the suites that measure herd's daemon and its dashboard
// (monitbench, paintbench): a build of this tree or of another one (such
// as a checkout of main, to compare), apps started with herd start, the
// dashboard's URL and token, an event stream held open as a page holds it.
//
// A Herd is one binary with its own HERD_HOME: every command it runs goes
// to the daemon of that home, which the first herd start launches (or the
// suite starts itself with Daemon, to watch its process).
package herdbin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Build builds ./cmd/herd of the source tree src into the file out.
func Build(ctx context.Context, src, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/herd")
	cmd.Dir = src
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build in %s: %v\n%s", src, err, b)
	}
	return nil
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Herd is a herd binary and the environment of its commands: HERD_HOME
// (and HOME) set to its own directory, and any extra variables.
type Herd struct {
	Bin, Home string
	Env       []string // the commands' whole environment
}

// New returns the Herd of bin with its home in home, created, and the
// variables extra (such as HERD_DASHBOARD=ADDR) in its environment besides
// PATH.
func New(bin, home string, extra ...string) (*Herd, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	env := append([]string{"HERD_HOME=" + home, "HOME=" + home, "PATH=" + os.Getenv("PATH")}, extra...)
	return &Herd{Bin: bin, Home: home, Env: env}, nil
}

// Run runs herd with args and returns its standard output; the error
// names the command and holds its standard error.
func (h *Herd) Run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, h.Bin, args...)
	cmd.Env = h.Env
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("herd %s: %v: %s%s", strings.Join(args, " "), err, out, errOut.String())
	}
	return string(out), nil
}

// Daemon starts `herd daemon args...` in a process group of its own and
// waits until it answers; stop ends it (SIGTERM, then SIGKILL to its
// group after a minute) and waits for it.
func (h *Herd) Daemon(ctx context.Context, args ...string) (d *exec.Cmd, stop func(), err error) {
	d = exec.Command(h.Bin, append([]string{"daemon"}, args...)...)
	d.Env = h.Env
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		return nil, nil, err
	}
	stop = func() {
		_ = d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(time.Minute):
			_ = syscall.Kill(-d.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := h.Run(ctx, "ping"); err == nil {
			return d, stop, nil
		}
		if time.Now().After(end) {
			stop()
			return nil, nil, errors.New("the daemon did not answer within 30s")
		}
	}
}

// Kill ends the daemon of h's home (herd kill), if one runs.
func (h *Herd) Kill() {
	_, _ = h.Run(context.Background(), "kill")
}

// StartApps starts apps name0..name(n-1), each of instances instances
// of cmd (herd start; the first launches the daemon if none runs).
func (h *Herd) StartApps(ctx context.Context, name string, n, instances int, cmd ...string) error {
	for i := range n {
		args := append([]string{"start", "--name", name + strconv.Itoa(i), "-i", strconv.Itoa(instances), "--"}, cmd...)
		if _, err := h.Run(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// DashboardToken is a token for the dashboard: a test value, the same for
// every build, since a browser keeps one cookie per host whatever the port.
const DashboardToken = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"

// WriteToken makes DashboardToken the token of h's dashboard (before its
// daemon starts).
func (h *Herd) WriteToken() error {
	return os.WriteFile(filepath.Join(h.Home, "dashboard.token"), []byte(DashboardToken+"\n"), 0o600)
}

// Token reads the token of h's dashboard.
func (h *Herd) Token() (string, error) {
	b, err := os.ReadFile(filepath.Join(h.Home, "dashboard.token"))
	return strings.TrimSpace(string(b)), err
}

// DashboardURL waits (a minute at most) until herd dashboard prints the
// dashboard's URL, and returns it (with ?token=).
func (h *Herd) DashboardURL(ctx context.Context) (string, error) {
	for end := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		out, err := h.Run(ctx, "dashboard")
		if err == nil {
			return strings.TrimSpace(out), nil
		}
		if time.Now().After(end) {
			return "", err
		}
	}
}

// Get GETs url with the bearer token and returns the body.
func Get(ctx context.Context, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", url, resp.Status)
	}
	return b, err
}

// OpenStream reads an event stream of a dashboard (with the bearer token)
// until ctx ends, as an open page does.
func OpenStream(ctx context.Context, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	go func() {
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	return nil
}

// CPUTicks returns pid's user and system CPU time, in clock ticks (USER_HZ,
// 100 a second).
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, s)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return u + st, nil
}

// RSSMB returns pid's resident memory (VmRSS) in MB.
func RSSMB(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}
