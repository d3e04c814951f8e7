package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireNodeEnv is the environment variable that, set to "1", turns a
// missing node from a skipped test into a failed one.
const RequireNodeEnv = "HERD_REQUIRE_NODE"

// TestCommand is the README's test command: it installs what the tests
// need (the npm packages of bench/node) and runs them. Skips name it as
// their fix.
const TestCommand = "npm ci --prefix bench/node && go test ./..."

// RequireNode returns the path of the node executable found in PATH. If node
// is missing, or one of the files named in need (such as a package in
// node_modules) does not exist, it skips the test, or fails it when
// HERD_REQUIRE_NODE=1, so that a run that must exercise Node cannot pass
// without it. The message names the cause (node not in PATH, or npm
// packages not installed in a given directory) and the command that fixes
// it.
func RequireNode(t testing.TB, need ...string) string {
	t.Helper()
	p, err := exec.LookPath("node")
	var why string
	if err != nil {
		why = fmt.Sprintf("node is not in PATH (%v): install Node 20 and put node on PATH", err)
	} else {
		for _, f := range need {
			if _, err := os.Stat(f); err != nil {
				why = missingFile(f, err)
				break
			}
		}
	}
	if why == "" {
		return p
	}
	if os.Getenv(RequireNodeEnv) == "1" {
		t.Fatalf("node is required (%s=1): %s", RequireNodeEnv, why)
	} else {
		t.Skipf("%s (set %s=1 to make this a failure)", why, RequireNodeEnv)
	}
	return ""
}

// missingFile explains a file RequireNode did not find; for one inside
// node_modules, it names the npm install that provides it.
func missingFile(f string, err error) string {
	abs, aerr := filepath.Abs(f)
	if aerr != nil {
		abs = f
	}
	dir, _, ok := strings.Cut(abs, string(filepath.Separator)+"node_modules"+string(filepath.Separator))
	if !ok {
		return fmt.Sprintf("%s is missing (%v)", abs, err)
	}
	return fmt.Sprintf("the npm packages of %s are not installed (%s is missing): run `npm ci --prefix %s`, or the README's test command `%s` from the repository root",
		dir, abs, dir, TestCommand)
}
