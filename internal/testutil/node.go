package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// RequireNodeEnv is the environment variable that, set to "1", turns a
// missing node from a skipped test into a failed one.
const RequireNodeEnv = "HERD_REQUIRE_NODE"

// RequireNode returns the path of the node executable found in PATH. If node
// is missing, or one of the files named in need (such as a package in
// node_modules) does not exist, it skips the test, or fails it when
// HERD_REQUIRE_NODE=1, so that a run that must exercise Node cannot pass
// without it.
func RequireNode(t testing.TB, need ...string) string {
	t.Helper()
	p, err := exec.LookPath("node")
	for _, f := range need {
		if err != nil {
			break
		}
		_, err = os.Stat(f)
	}
	if err == nil {
		return p
	}
	if os.Getenv(RequireNodeEnv) == "1" {
		t.Fatalf("node is required (%s=1) but not found: %v", RequireNodeEnv, err)
	} else {
		t.Skipf("node not found (%v); set %s=1 to make this a failure", err, RequireNodeEnv)
	}
	return ""
}
