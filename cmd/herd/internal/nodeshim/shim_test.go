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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	// This binary is the shim's listen relay in the tests.
	if len(os.Args) > 1 && os.Args[1] == RelayArg {
		os.Exit(RelayMain(os.Args[2:]))
	}
	testutil.VerifyTestMain(m)
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

// The shim makes listen(port, host, cb) of an unmodified app ask herd's
// broker for (host, port) through the relay (this test binary), and listen
// on the socket it sends: the one the test opened, bound to the host the
// app asked for.
func TestShimAsksForItsSocket(t *testing.T) {
	testutil.RequireNode(t)
	shim, err := Path(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	var (
		mu   sync.Mutex
		asks []Request
		lns  []*os.File
	)
	defer func() {
		for _, f := range lns {
			f.Close()
		}
	}()
	b, err := NewBroker(t.TempDir(), func(r Request) (*os.File, error) {
		mu.Lock()
		defer mu.Unlock()
		asks = append(asks, r)
		ln, err := net.Listen("tcp", net.JoinHostPort(r.Host, strconv.Itoa(r.Port)))
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		if err == nil {
			lns = append(lns, f)
		}
		return f, err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	app := filepath.Join(t.TempDir(), "app.js")
	os.WriteFile(app, []byte(fmt.Sprintf(`const s = require('http').createServer((q, r) => r.end('adopted ' + process.pid + ' ' + s.address().address));
const bad = require('net').createServer();
bad.on('error', (e) => console.log('refused ' + e.code));
// The second listen only once the first has its socket: each asks through
// a relay process of its own, and those may reach the broker in any order.
s.listen(%d, '127.0.0.1', () => { console.log('cb'); bad.listen(%d, '127.0.0.1'); });`, port, port)), 0o644)
	cmd := exec.Command("node", "--require", shim, app)
	cmd.Env = append(os.Environ(), EnvSocket+"="+b.Path(), EnvRelay+"="+os.Args[0])
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	defer func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("requests %+v; node's output:\n%s", asks, out.String())
			mu.Unlock()
		}
	}()
	want := "adopted " + strconv.Itoa(cmd.Process.Pid) + " 127.0.0.1"
	testutil.WaitFor(t, "node to answer on the socket herd sent", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		code, body, _ := testutil.Get(ctx, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
		if code != 0 && body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		return code == 200
	})
	// The second server asked for the same address: the test's open
	// failed (EADDRINUSE), and the app's server got that error.
	testutil.WaitFor(t, "the second listen to fail", func() bool { return strings.Contains(out.String(), "refused EADDRINUSE") })
	mu.Lock()
	defer mu.Unlock()
	if len(asks) != 2 || asks[0].Host != "127.0.0.1" || asks[0].Port != port || asks[0].PID <= 0 {
		t.Fatalf("requests %+v; output:\n%s", asks, out.String())
	}
}

// A listen on every interface for a port herd opened before the start
// (LISTEN_FDS, named port-N, for this very process) takes that descriptor
// without asking herd: no relay process, no request to the broker. A
// second listen on the port, and one with a host, still ask.
func TestShimTakesInheritedSocket(t *testing.T) {
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
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	var (
		mu   sync.Mutex
		asks []Request
	)
	b, err := NewBroker(t.TempDir(), func(r Request) (*os.File, error) {
		mu.Lock()
		defer mu.Unlock()
		asks = append(asks, r)
		return nil, fmt.Errorf("refused %s:%d", r.Host, r.Port)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	app := filepath.Join(t.TempDir(), "app.js")
	os.WriteFile(app, []byte(fmt.Sprintf(`const s = require('http').createServer((q, r) => r.end('inherited ' + process.pid + ' ' + s.address().port));
s.listen(%d, () => {
  console.log('cb');
  const again = require('net').createServer();
  again.on('error', (e) => { console.log('again: ' + e.message);
    const host = require('net').createServer();
    host.on('error', (e) => console.log('host: ' + e.message));
    host.listen(%d, '127.0.0.1');
  });
  again.listen(%d);
});`, port, port, port)), 0o644)
	// As the guard does: LISTEN_PID names node itself, through sh's exec.
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, "node", "--require", shim, app)
	cmd.Env = append(os.Environ(), EnvSocket+"="+b.Path(), EnvRelay+"="+os.Args[0],
		"LISTEN_FDS=2", "LISTEN_FDNAMES=port-1:"+FDName(port))
	other, err := os.Open(os.DevNull) // fd 3: another name, left alone
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	cmd.ExtraFiles = []*os.File{other, lf}
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	want := "inherited " + strconv.Itoa(cmd.Process.Pid) + " " + strconv.Itoa(port)
	testutil.WaitFor(t, "node to answer on the inherited socket", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		code, body, _ := testutil.Get(ctx, "http://127.0.0.1:"+strconv.Itoa(port)+"/")
		if code != 0 && body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		return code == 200
	})
	testutil.WaitFor(t, "the later listens to be refused by the broker", func() bool {
		return strings.Contains(out.String(), "host: refused 127.0.0.1:")
	})
	mu.Lock()
	defer mu.Unlock()
	if len(asks) != 2 || asks[0].Host != "" || asks[1].Host != "127.0.0.1" || !strings.Contains(out.String(), "again: refused :") {
		t.Fatalf("requests %+v, want the second listen and the one with a host only; output:\n%s", asks, out.String())
	}
}
