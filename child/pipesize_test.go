package child

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestOutputPipesAreGrown checks that the stdout and stderr pipes herd
// makes, both those handed to the caller and those feeding a Writer, hold
// outputPipeSize bytes when the system allows it.
func TestOutputPipesAreGrown(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil {
		t.Skip("no /proc/sys/fs/pipe-max-size (is /proc mounted?):", err)
	}
	if lim, err := strconv.Atoi(strings.TrimSpace(string(b))); err != nil || lim < outputPipeSize {
		t.Skipf("fs.pipe-max-size %q is below %d; raise it with sysctl -w fs.pipe-max-size=%d", b, outputPipeSize, outputPipeSize)
	}
	var sink strings.Builder
	p, err := Spawn(t.Context(), "sh", []string{"-c", "exec cat >/dev/null"}, &Options{Stderr: &sink})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.readers) != 2 {
		t.Fatalf("%d parent pipe read ends, want 2", len(p.readers))
	}
	for i, pr := range p.readers {
		if n := pipeSize(pr.f); n < outputPipeSize {
			t.Errorf("pipe %d holds %d bytes, want at least %d", i, n, outputPipeSize)
		}
	}
	p.Stdin.Close()
	io.Copy(io.Discard, p.Stdout)
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}
