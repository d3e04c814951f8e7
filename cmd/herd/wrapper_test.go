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

// Launchers in cluster mode: npm start, yarn start and a shell script that
// runs node as its child. The final node inherits nothing from herd (npm's
// and yarn's node mark inherited descriptors close-on-exec), so its shim
// asks herd for the port through the listen relay; both instances serve,
// reloads under load lose nothing, and a stop leaves no process behind.
func TestRunThroughLaunchers(t *testing.T) {
	testutil.RequireNode(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"app","version":"1.0.0","scripts":{"start":"node server.js"}}`), 0o644)
	os.WriteFile(filepath.Join(dir, "server.js"), []byte(helloApp), 0o644)
	os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\nnode server.js\nexit $?\n"), 0o755)
	// A node:cluster app through npm: readiness comes from /proc, where
	// the primary, a grandchild of the instance, waits on the socket.
	// Its own folder, made here: both instances run the command at once.
	os.Mkdir(filepath.Join(dir, "c"), 0o755)
	os.WriteFile(filepath.Join(dir, "c", "cluster.js"), []byte(nodeClusterApp), 0o644)
	os.WriteFile(filepath.Join(dir, "c", "package.json"), []byte(`{"name":"app","version":"1.0.0","scripts":{"start":"node cluster.js"}}`), 0o644)
	for _, tc := range []struct{ name, tool, cmd string }{
		{"npm", "npm", "exec npm start --silent"},
		{"yarn", "yarn", "exec yarn --silent start"},
		{"script", "sh", "exec ./run.sh"},
		{"npm-node-cluster", "npm", "cd c && exec npm start --silent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := exec.LookPath(tc.tool); err != nil {
				if tc.tool == "npm" && os.Getenv("HERD_REQUIRE_NODE") == "1" {
					t.Fatal("npm is required with node (HERD_REQUIRE_NODE=1) but not in PATH")
				}
				t.Skipf("%s is not in PATH (npm comes with Node 20; yarn 1 installs with npm i -g yarn@1.22.22)", tc.tool)
			}
			port := testutil.FreePort(t)
			reloadUnderLoadKA(t, port, true, "run", "-i", "2", "-p", strconv.Itoa(port), "--", "sh", "-c", "cd "+dir+" && "+tc.cmd)
		})
	}
}
