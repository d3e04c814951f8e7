package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// With HERD_TEST_SOCKACT set, the test binary is a program of this package
// written as the package doc shows, run socket-activated by a test (which
// plays systemd: it holds the listener and sets LISTEN_*).
const envSockAct = "HERD_TEST_SOCKACT"

func init() {
	if os.Getenv(envSockAct) != "" {
		os.Exit(sockActMain(os.Getenv(envSockAct)))
	}
}

// sockActMain runs cluster.Run for the address addr with 3 workers
// configured. Socket-activated, it must serve on the inherited socket as
// the only worker; a Run that returns became a primary, and exits 5.
func sockActMain(addr string) int {
	cfg := Config{Workers: 3, Listen: []Addr{{Address: addr}}}
	err := Run(context.Background(), cfg, func(ctx context.Context, w *Worker) error {
		if _, err := w.Listen("tcp", "127.0.0.1:1"); err != nil {
			fmt.Printf("OTHER %v\n", err)
		}
		ln, err := w.Listen("tcp", addr)
		if err != nil {
			return err
		}
		fmt.Printf("SERVING id=%d slot=%d addr=%s worker=%v\n", w.ID(), w.Slot(), ln.Addr(), IsWorker())
		return w.Serve(ctx, ln, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(rw, "sockact %d", os.Getpid())
		}))
	})
	fmt.Println("PRIMARY returned:", err)
	return 5
}

// inheritedFile returns a listener on 127.0.0.1:0 as an *os.File, and its
// port.
func inheritedFile(t *testing.T, network, address string) (*os.File, net.Addr) {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(interface{ File() (*os.File, error) }).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr()
}

func TestInheritedSpecs(t *testing.T) {
	f1, a1 := inheritedFile(t, "tcp", "127.0.0.1:0")
	f2, a2 := inheritedFile(t, "tcp", "127.0.0.1:0")
	sock := filepath.Join(t.TempDir(), "s.sock")
	f3, _ := inheritedFile(t, "unix", sock)
	p1, p2 := a1.(*net.TCPAddr).Port, a2.(*net.TCPAddr).Port
	files, names := []*os.File{f1, f2, f3}, []string{"one", "two", "three"}
	for _, tc := range []struct {
		name   string
		listen []Addr
		want   []string // Net and Addr of each spec
	}{
		{"by port, wildcard host", []Addr{{Address: ":" + strconv.Itoa(p2)}, {Address: "localhost:" + strconv.Itoa(p1)}},
			[]string{"tcp localhost:" + strconv.Itoa(p1), "tcp :" + strconv.Itoa(p2), "unix " + sock}},
		{"by name", []Addr{{Address: ":9", Name: "two"}},
			[]string{"tcp " + a1.String(), "tcp :9", "unix " + sock}},
		{"port 0 takes the first left", []Addr{{Address: "127.0.0.1:" + strconv.Itoa(p1)}, {Address: "127.0.0.1:0"}, {Network: "unix", Address: sock}},
			[]string{"tcp 127.0.0.1:" + strconv.Itoa(p1), "tcp 127.0.0.1:0", "unix " + sock}},
		{"other host or port: unmatched", []Addr{{Address: "10.1.2.3:" + strconv.Itoa(p1)}, {Address: "127.0.0.1:1"}, {Network: "tcp", Address: sock}},
			[]string{"tcp " + a1.String(), "tcp " + a2.String(), "unix " + sock}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			specs := inheritedSpecs(files, names, tc.listen)
			var got []string
			for i, s := range specs {
				got = append(got, s.Net+" "+s.Addr)
				if s.Name != names[i] {
					t.Errorf("spec %d name %q, want %q", i, s.Name, names[i])
				}
			}
			if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
				t.Errorf("specs %v, want %v", got, tc.want)
			}
			if specs[0].Bound != a1.String() || specs[1].Bound != a2.String() || specs[2].Bound != sock {
				t.Errorf("bound %q %q %q", specs[0].Bound, specs[1].Bound, specs[2].Bound)
			}
		})
	}
}

// TestSocketActivated starts a program of this package the way systemd
// would (the listener at fd 3, LISTEN_FDS=1, LISTEN_PID its pid,
// NOTIFY_SOCKET, no channel): it serves on the inherited socket as one
// process without forking workers, reports READY=1 by sd_notify, refuses an
// address it did not inherit, and drains and exits 0 on SIGTERM.
func TestSocketActivated(t *testing.T) {
	f, addr := inheritedFile(t, "tcp", "127.0.0.1:0")
	port := addr.(*net.TCPAddr).Port
	dir := t.TempDir()
	notifyPath := filepath.Join(dir, "notify.sock")
	notify, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()

	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "LISTEN_") && !strings.HasPrefix(kv, "NODE_CHANNEL") && !strings.HasPrefix(kv, "HERD_") && !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			env = append(env, kv)
		}
	}
	env = append(env, envSockAct+"=:"+strconv.Itoa(port), "LISTEN_FDS=1", "LISTEN_FDNAMES=web", "NOTIFY_SOCKET="+notifyPath, "HERD_INSTANCE=4")
	cmd := exec.Command("/bin/sh", "-c", trampoline, os.Args[0], "-test.run=^$")
	cmd.Env, cmd.ExtraFiles = env, []*os.File{f}
	var out activationOutput
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Errorf("pid %d did not exit", pid)
		}
	}()

	notify.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 256)
	n, err := notify.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("sd_notify: %q %v\n%s", buf[:n], err, out.String())
	}
	url := "http://" + addr.String() + "/"
	if body, err := activationGet(url); err != nil || body != "sockact "+strconv.Itoa(pid) {
		t.Fatalf("GET = %q %v, want the activated process %d itself\n%s", body, err, pid, out.String())
	}
	for _, want := range []string{
		"SERVING id=5 slot=4 addr=" + addr.String() + " worker=true",
		"OTHER cluster: no such shared listener: tcp 127.0.0.1:1 is not among the sockets this process inherited",
	} {
		// Output arrives through a pipe: wait for it.
		for end := time.Now().Add(20 * time.Second); !strings.Contains(out.String(), want) && time.Now().Before(end); {
			time.Sleep(5 * time.Millisecond)
		}
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); strings.TrimSpace(string(kids)) != "" {
		t.Errorf("the activated process started children %q: it acted as a primary", kids)
	}

	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err // for the deferred wait
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20s after SIGTERM\n%s", out.String())
	}
	// The test, like systemd, still holds the socket: it still listens.
	ln, err := net.FileListener(f)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

// activationOutput collects a process's output while the test reads it.
type activationOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *activationOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *activationOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// activationGet fetches url on a new connection and returns the body of a
// 200 answer.
func activationGet(url string) (string, error) {
	cl := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := cl.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(b), err
}
