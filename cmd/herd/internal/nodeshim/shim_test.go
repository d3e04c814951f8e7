package nodeshim

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

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
	testutil.RequireNode(t)
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
	// The test's own listener shares the queue: keep asking until node
	// answers (Go never accepts on ln here), giving each request 2s.
	ask := func() (code int, body string) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		code, body, _ = testutil.Get(ctx, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
		return code, body
	}
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		code, body := ask()
		if code == 0 { // no answer yet
			continue
		}
		if body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		return
	}
	t.Fatalf("node never answered on the inherited socket; output:\n%s", out.String())
}
