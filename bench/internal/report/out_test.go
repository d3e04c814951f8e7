package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestSamplesPath(t *testing.T) {
	if p, err := SamplesPath("/x/y.json", "/ignored", "ipc"); err != nil || p != "/x/y.json" {
		t.Fatalf("explicit json: %q, %v", p, err)
	}
	d := t.TempDir()
	if p, err := SamplesPath("", d, "ipc"); err != nil || p != filepath.Join(d, "ipc.json") {
		t.Fatalf("out dir: %q, %v", p, err)
	}
	p, err := SamplesPath("", "", "ipc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Dir(p))
	if !strings.HasPrefix(p, os.TempDir()) || filepath.Base(p) != "ipc.json" {
		t.Fatalf("default path %q is not <tmp>/…/ipc.json", p)
	}
	if fi, err := os.Stat(filepath.Dir(p)); err != nil || !fi.IsDir() {
		t.Fatalf("default dir not made: %v", err)
	}
}
