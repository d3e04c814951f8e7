package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

// A PM2 cluster app's port comes from -p, then -e PORT=, then the file's
// env, then the caller's PORT; with none at all the instances share the
// port the app's code listens on.
func TestRunClusterPortSources(t *testing.T) {
	testutil.RequireNode(t)
	ports := make([]int, 5)
	for i := range ports {
		ports[i] = testutil.FreePort(t)
	}
	fixed := ports[4] // the port written in the app, used when PORT is unset
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.js"), []byte(fmt.Sprintf(`require('http').createServer((q, s) => s.end('port ' + (process.env.PORT || 'unset') + ' ' + process.env.HERD_INSTANCE)).listen(Number(process.env.PORT || %d));
`, fixed)), 0o644)
	file := func(env string) string {
		p := filepath.Join(t.TempDir(), "ecosystem.config.js")
		os.WriteFile(p, []byte(`module.exports = { apps: [{ name: 'web', script: '`+filepath.Join(dir, "app.js")+`', instances: 2, exec_mode: 'cluster'`+env+` }] };
`), 0o644)
		return p
	}
	withPort := file(fmt.Sprintf(`, env: { PORT: %d }`, ports[0]))
	noPort := file("")
	p := strconv.Itoa
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"file", []string{"PORT=" + p(ports[1])}, []string{"-c", withPort}, ports[0]},
		{"caller", []string{"PORT=" + p(ports[1])}, []string{"-c", noPort}, ports[1]},
		{"-e over file", nil, []string{"-c", withPort, "-e", "PORT=" + p(ports[2])}, ports[2]},
		{"-p over -e", nil, []string{"-c", withPort, "-e", "PORT=" + p(ports[2]), "-p", p(ports[3])}, ports[3]},
		{"none", []string{"PORT="}, []string{"-c", noPort}, fixed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHerd(t, append([]string{"NO_COLOR=1"}, tc.env...), append([]string{"run"}, tc.args...)...)
			waitOut(t, h, "cluster: ready workers=2", 1)
			seen := map[string]bool{}
			testutil.WaitFor(t, "both instances to answer on the port", func() bool {
				code, body, err := testutil.Get(context.Background(), "http://127.0.0.1:"+p(tc.want)+"/")
				if err != nil || code != 200 || !strings.HasPrefix(body, "port ") {
					t.Fatalf("GET :%d = %d %q %v\n%s", tc.want, code, body, err, h.stdout.String())
				}
				seen[body] = true
				return len(seen) == 2
			})
			syscall.Kill(h.p.Pid, syscall.SIGTERM)
			if code := h.wait(t); code != 0 {
				t.Fatalf("exit %d\n%s", code, h.stderr.String())
			}
		})
	}
}
