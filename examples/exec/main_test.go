package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	testutil.VerifyTestMain(m)
}

func TestRun(t *testing.T) {
	t.Setenv("LC_ALL", "C") // ls's messages in English, whatever the machine's locale
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hello-herd.txt"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, dir); err != nil {
		t.Fatalf("run: %v\noutput:\n%s", err, out.String())
	}
	got := out.String()
	t.Logf("output:\n%s", got)

	// The listing: ls -la prints a "total" line, the . entry and our file,
	// 3 bytes long, as a regular file.
	list, rest, ok := strings.Cut(got, "\nerror: ")
	if !ok {
		t.Fatal("no error section in the output")
	}
	if !strings.HasPrefix(list, "stdout:\ntotal ") {
		t.Errorf("listing does not start with stdout: and a total line:\n%s", list)
	}
	var found bool
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) >= 9 && f[len(f)-1] == "hello-herd.txt" {
			found = strings.HasPrefix(f[0], "-rw") && f[4] == "3"
		}
	}
	if !found {
		t.Errorf("listing has no line for hello-herd.txt (-rw..., 3 bytes):\n%s", list)
	}

	// The error path: the typed error's code and stderr tail.
	for _, want := range []string{
		`child: "ls /nonexistent" exited with code 2: ls: cannot access '/nonexistent': No such file or directory` + "\n",
		"exit code: 2\n",
		"stderr: ls: cannot access '/nonexistent': No such file or directory\n",
		"stdout was 0 bytes\n",
	} {
		if !strings.Contains(rest, want) {
			t.Errorf("error section lacks %q:\n%s", want, rest)
		}
	}
}

func TestRunBadDir(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, filepath.Join(t.TempDir(), "missing"))
	if err == nil {
		t.Fatal("run in a missing directory succeeded")
	}
	if out.Len() != 0 {
		t.Errorf("printed %q before failing", out.String())
	}
}
