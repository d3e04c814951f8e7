package nodeshim

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("HERD_REQUIRE_NODE") == "1" {
			t.Fatal("node is required (HERD_REQUIRE_NODE=1) but not in PATH")
		}
		t.Skip("node not in PATH")
	}
}

func TestPathWritesOnce(t *testing.T) {
	dir := t.TempDir()
	p1, err := Path(dir)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Path(dir)
	if err != nil || p1 != p2 {
		t.Fatalf("second Path = %q, %v; want %q", p2, err, p1)
	}
	b, _ := os.ReadFile(p1)
	if !bytes.Equal(b, Source()) {
		t.Fatal("file differs from the embedded shim")
	}
}

// The shim makes listen(port, host, cb) of an unmodified app take the
// inherited fd 3 named port-<port>, even though the port is already bound by
// this test, as herd would have it.
func TestShimAdoptsInheritedSocket(t *testing.T) {
	requireNode(t)
	shim, err := Path(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	app := filepath.Join(t.TempDir(), "app.js")
	os.WriteFile(app, []byte(fmt.Sprintf(`require('http').createServer((q, s) => s.end('adopted ' + process.pid)).listen(%d, '127.0.0.1', () => console.log('cb'));`, port)), 0o644)
	// sh sets LISTEN_PID to the pid node will have (exec keeps it).
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, "node", "--require", shim, app)
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES="+FDName(port))
	cmd.ExtraFiles = []*os.File{f}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	want := "adopted " + strconv.Itoa(cmd.Process.Pid)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer c.CloseIdleConnections()
	// The test's own listener shares the queue: keep asking until node
	// answers (Go never accepts on ln here).
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		resp, err := c.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("body %q, want %q", b, want)
		}
		return
	}
	t.Fatalf("node never answered on the inherited socket; output:\n%s", out.String())
}
