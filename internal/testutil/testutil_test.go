package testutil

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) { VerifyTestMain(m) }

// startSleep starts `sleep 60` as the leader of a new process group and
// kills it at cleanup if the test did not.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// TestProcessLifecycle follows a child through running, zombie and reaped,
// and checks what each process helper says at every step.
func TestProcessLifecycle(t *testing.T) {
	cmd := startSleep(t)
	pid, me := cmd.Process.Pid, os.Getpid()

	if Gone(pid) || GroupGone(pid) {
		t.Fatalf("running sleep %d: Gone %v, GroupGone %v; want both false", pid, Gone(pid), GroupGone(pid))
	}
	if kids := ChildrenOf(t, me); !slices.Contains(kids, pid) {
		t.Fatalf("ChildrenOf(self) = %v, lacks the running sleep %d", kids, pid)
	}

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Killed but not reaped: a zombie, gone for Gone, still a child and
	// still a member of its group.
	if !WaitGone(pid, WaitTimeout) {
		t.Fatalf("killed sleep %d not Gone after %v", pid, WaitTimeout)
	}
	if kids := ChildrenOf(t, me); slices.Contains(kids, pid) {
		t.Errorf("ChildrenOf(self) = %v, holds the zombie %d", kids, pid)
	}
	if kids := AllChildrenOf(t, me); !slices.Contains(kids, pid) {
		t.Errorf("AllChildrenOf(self) = %v, lacks the zombie %d", kids, pid)
	}
	if GroupGone(pid) {
		t.Error("GroupGone is true while the zombie leader is unreaped")
	}

	if err := cmd.Wait(); err == nil {
		t.Fatal("killed sleep exited cleanly")
	}
	WaitFor(t, "the reaped group to be gone", func() bool { return GroupGone(pid) })
	if kids := AllChildrenOf(t, me); slices.Contains(kids, pid) {
		t.Errorf("AllChildrenOf(self) = %v, still holds the reaped %d", kids, pid)
	}
}

func TestChildrenOfMissingProcess(t *testing.T) {
	cmd := startSleep(t)
	pid := cmd.Process.Pid
	cmd.Process.Kill()
	cmd.Wait()
	// Reaped, so /proc/<pid> is gone (unless the pid was reused already,
	// which a test cannot rule out; then it has no children of ours).
	if kids := AllChildrenOf(t, pid); len(kids) != 0 {
		t.Errorf("AllChildrenOf(reaped %d) = %v, want none", pid, kids)
	}
}

func TestCountFDs(t *testing.T) {
	before := CountFDs(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	if got := CountFDs(t); got != before+1 {
		t.Errorf("with one more file open: %d, want %d", got, before+1)
	}
	f.Close()
	if got := CountFDs(t); got != before {
		t.Errorf("after closing it: %d, want %d", got, before)
	}
}

func TestSyncBufferConcurrent(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				fmt.Fprint(&b, "ab")
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if s := b.String(); len(s) != 800 || strings.Count(s, "ab") != 400 {
		t.Errorf("got %d bytes, %d \"ab\"; want 800 bytes, 400", len(s), strings.Count(s, "ab"))
	}
}

// fakeTB records what RequireNode asks of its test, for the branches a real
// test cannot observe from outside (a skip, a failure).
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper()                           {}
func (f *fakeTB) Skipf(format string, args ...any)  { f.skipped = fmt.Sprintf(format, args...) }
func (f *fakeTB) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }

func TestRequireNodeMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "node_modules", "nothing")
	t.Setenv(RequireNodeEnv, "")
	f := &fakeTB{}
	if p := RequireNode(f, missing); p != "" || f.skipped == "" || f.failed != "" {
		t.Errorf("without %s: path %q, skipped %q, failed %q; want a skip", RequireNodeEnv, p, f.skipped, f.failed)
	}
	// The skip names its cause and its fix, not a missing node.
	dir := filepath.Dir(filepath.Dir(missing))
	for _, want := range []string{"npm packages of " + dir + " are not installed", "npm ci --prefix " + dir} {
		if !strings.Contains(f.skipped, want) {
			t.Errorf("skip %q lacks %q", f.skipped, want)
		}
	}
	if strings.Contains(f.skipped, "not in PATH") {
		t.Errorf("skip %q blames node, which is in PATH", f.skipped)
	}
	t.Setenv(RequireNodeEnv, "1")
	f = &fakeTB{}
	if p := RequireNode(f, missing); p != "" || f.failed == "" || f.skipped != "" {
		t.Errorf("with %s=1: path %q, skipped %q, failed %q; want a failure", RequireNodeEnv, p, f.skipped, f.failed)
	}
	t.Setenv("PATH", t.TempDir()) // no node in it
	f = &fakeTB{}
	if p := RequireNode(f); p != "" || !strings.Contains(f.failed, "node is not in PATH") || !strings.Contains(f.failed, "install Node") {
		t.Errorf("node not in PATH: path %q, failed %q; want a failure", p, f.failed)
	}
}

func TestRequireNodeFound(t *testing.T) {
	p := RequireNode(t)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		t.Fatalf("RequireNode = %q: %v", p, err)
	}
}

func TestBuildGo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from a built binary\") }\n"
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "go.mod"), []byte("module example.com/m\n\ngo 1.26.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// BuildGo builds relative to the working directory, as a test's is its
	// package's.
	t.Chdir(filepath.Dir(dir))
	bin := BuildGo(t.Context(), t, "./hello")
	if filepath.Base(bin) != "hello" {
		t.Errorf("binary %s, want it named hello", bin)
	}
	out, err := exec.Command(bin).Output()
	if err != nil || string(out) != "hello from a built binary\n" {
		t.Fatalf("%s: %q, %v", bin, out, err)
	}
}

func TestGetAndFreePort(t *testing.T) {
	port := FreePort(t)
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("FreePort %d is not free: %v", port, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, "hi")
	})}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	defer func() {
		srv.Close()
		<-done
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if code, body, err := Get(context.Background(), base+"/"); code != 200 || body != "hi" || err != nil {
		t.Errorf("GET / = %d %q %v; want 200 \"hi\"", code, body, err)
	}
	if code, _, err := Get(context.Background(), base+"/nope"); code != 404 || err != nil {
		t.Errorf("GET /nope = %d %v; want 404", code, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if code, _, err := Get(ctx, base+"/"); code != 0 || err == nil {
		t.Errorf("GET with a cancelled context = %d %v; want 0 and an error", code, err)
	}
}

// TestCommandIsTheREADMEs: the command that skips name as their fix is the
// one README.md gives (and .ci/run runs).
func TestCommandIsTheREADMEs(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), TestCommand) {
		t.Fatalf("README.md does not give the test command %q", TestCommand)
	}
}
