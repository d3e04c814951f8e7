package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// A wrapper script that runs node as its child (no exec): the app's node is
// not herd's child, but it inherited the socket and the shim sees herd's
// instance among its ancestors, so it takes the socket; herd sees the tree
// accept (/proc) and stops it all.
func TestRunThroughWrapperScript(t *testing.T) {
	testutil.RequireNode(t)
	app := writeApp(t, helloApp)
	port := strconv.Itoa(testutil.FreePort(t))
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "--host", "127.0.0.1", "-p", port, "--", "sh", "-c", "node "+app+"; exit $?")
	waitOut(t, h, "cluster: ready workers=2", 1)
	seen := map[string]bool{}
	testutil.WaitFor(t, "both instances to answer", func() bool {
		code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+port+"/")
		if err == nil && code == 200 && strings.HasPrefix(body, "hello ") {
			seen[body] = true
		}
		return len(seen) == 2
	})
	kids := testutil.ChildrenOf(t, h.p.Pid)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
	for _, k := range kids {
		if !testutil.GroupGone(k) {
			t.Errorf("process group %d still has processes", k)
		}
	}
}

// npm closes the descriptors it inherited, so an app it starts binds the
// port itself and fails: herd says why.
func TestRunThroughNpmExplainsTheFailure(t *testing.T) {
	testutil.RequireNode(t)
	if _, err := exec.LookPath("npm"); err != nil {
		if os.Getenv("HERD_REQUIRE_NODE") == "1" {
			t.Fatal("npm is required with node (HERD_REQUIRE_NODE=1) but not in PATH")
		}
		t.Skip("npm is not in PATH; it comes with Node 20: install Node 20 with its npm (HERD_REQUIRE_NODE=1 makes this a failure)")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","version":"1.0.0","scripts":{"start":"node server.js"}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "server.js"), []byte(helloApp), 0o644)
	port := strconv.Itoa(testutil.FreePort(t))
	code, _, errOut := runHerd(t, []string{"NO_COLOR=1"}, "run", "--host", "127.0.0.1", "-p", port, "--", "sh", "-c", "cd "+dir+" && exec npm start --silent")
	if code != 1 || !strings.Contains(errOut, "EADDRINUSE") || !strings.Contains(errOut, "hint: the app bound a port that herd already holds") {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
}
