package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// An app that listens on loopback only, and says where it listens.
const loopbackApp = `const http = require('http');
const s = http.createServer((req, res) => res.end(s.address().address + ' ' + process.env.HERD_INSTANCE));
s.listen(Number(process.env.PORT), '127.0.0.1');
`

// otherAddr returns a non-loopback IPv4 address of this machine, or "".
func otherAddr() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	return ""
}

// herd binds what the app asks for: listen(PORT, '127.0.0.1') under
// `herd run -p PORT` (no host) is reachable on 127.0.0.1, unreachable on
// the machine's other address, and its address() says 127.0.0.1.
func TestRunLoopbackAppStaysLoopback(t *testing.T) {
	testutil.RequireNode(t)
	other := otherAddr()
	port := strconv.Itoa(testutil.FreePort(t))
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "-p", port, "--", "node", writeApp(t, loopbackApp))
	waitOut(t, h, "cluster: ready workers=2", 1)
	seen := map[string]bool{}
	testutil.WaitFor(t, "both instances to answer on 127.0.0.1", func() bool {
		code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+port+"/")
		if err != nil || code != 200 || !strings.HasPrefix(body, "127.0.0.1 ") {
			t.Fatalf("GET 127.0.0.1 = %d %q %v", code, body, err)
		}
		seen[body] = true
		return len(seen) == 2
	})
	if other == "" {
		t.Log("no non-loopback IPv4 address on this machine: the check that the port is closed elsewhere is skipped")
	} else {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(other, port), 5*time.Second)
		if err == nil {
			c.Close()
			t.Fatalf("port %s answers on %s: herd widened a loopback-only app", port, other)
		}
		if !strings.Contains(err.Error(), "refused") {
			t.Fatalf("dial %s: %v, want connection refused", other, err)
		}
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
}

// A command that is not node gets its ports open before it starts, on every
// interface when -p names no host; a node it starts that asks for 127.0.0.1
// is refused with an error that says what to write, not widened.
func TestRunRefusesToWidenAPreopenedPort(t *testing.T) {
	testutil.RequireNode(t)
	port := strconv.Itoa(testutil.FreePort(t))
	code, out, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "-p", port, "--", "sh", "-c", "exec node "+writeApp(t, loopbackApp))
	want := "herd does not widen what an app asked for: run herd with -p 127.0.0.1:" + port
	if code != 1 || !strings.Contains(out, "refused a listen request: the app asks to listen on 127.0.0.1:"+port) ||
		!strings.Contains(out, want) || !strings.Contains(errOut, "code: 'EACCES'") {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// -p HOST:PORT is honoured for a command herd cannot ask first: the port is
// opened on HOST before the start, and the node that npm or a script starts
// gets it when it asks for that host.
func TestRunHostPortForAWrappedApp(t *testing.T) {
	testutil.RequireNode(t)
	other := otherAddr()
	port := strconv.Itoa(testutil.FreePort(t))
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-p", "127.0.0.1:"+port, "--", "sh", "-c", "exec node "+writeApp(t, loopbackApp))
	waitOut(t, h, "cluster: ready workers=1", 1)
	code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+port+"/")
	if err != nil || code != 200 || body != "127.0.0.1 0" {
		t.Fatalf("GET 127.0.0.1 = %d %q %v", code, body, err)
	}
	if other != "" {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(other, port), 5*time.Second); err == nil {
			c.Close()
			t.Fatalf("port %s answers on %s", port, other)
		}
	}
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
}
