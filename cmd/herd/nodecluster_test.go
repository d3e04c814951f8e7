package main

import (
	"strconv"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// An app that uses node:cluster itself: the primary forks two workers and
// only they call listen (Node's round-robin primary then takes the port).
const nodeClusterApp = `const cluster = require('cluster');
const http = require('http');
if (cluster.isPrimary) {
  for (let i = 0; i < 2; i++) cluster.fork();
} else {
  http.createServer((req, res) => res.end('hello ' + process.env.HERD_INSTANCE + ' ' + process.pid)).listen(Number(process.env.PORT));
}
`

// A node:cluster app is ready when its workers listen (its primary's
// listen, which the first worker's triggers, goes through the shim), and
// reloads under load, with new connections and with keep-alive ones, lose
// nothing: herd stops the old instance's whole process group idle, its
// workers finish what they hold, and its primary leaves after them.
func TestRunNodeClusterApp(t *testing.T) {
	testutil.RequireNode(t)
	for _, ka := range []bool{false, true} {
		name := "new-connections"
		if ka {
			name = "keep-alive"
		}
		t.Run(name, func(t *testing.T) {
			port := testutil.FreePort(t)
			reloadUnderLoadKA(t, port, ka, "run", "-i", "2", "-p", strconv.Itoa(port), "--", "node", writeApp(t, nodeClusterApp))
		})
	}
}

// A node app whose server runs in a process it forks (child_process.fork):
// only the node herd started talks to herd, so readiness comes from /proc,
// where the instance's process tree waits on the socket.
func TestRunNodeAppWithForkedServer(t *testing.T) {
	testutil.RequireNode(t)
	server := writeApp(t, helloApp)
	main := writeApp(t, "require('child_process').fork("+strconv.Quote(server)+");\n")
	port := testutil.FreePort(t)
	h := startHerd(t, []string{"NO_COLOR=1"}, "run", "-i", "2", "-p", strconv.Itoa(port), "--", "node", main)
	waitOut(t, h, "cluster: ready workers=2", 1)
	answers(t, port, 4)
	syscall.Kill(h.p.Pid, syscall.SIGTERM)
	if code := h.wait(t); code != 0 {
		t.Fatalf("exit %d\n%s", code, h.stderr.String())
	}
}
