package child

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The reexec helper's main goroutine stays on the main thread, as in a
// program that calls ServeStarts.
func init() {
	if os.Getenv(helperEnv) == "reexec" {
		runtime.LockOSThread()
	}
}

// reexecState carries the helper's generation, its child's pid and the
// child's stdout pipe across Reexec.
const reexecState = "HERD_CHILD_TEST_REEXEC"

// stdoutWriter writes to this process's stdout through a pipe of the
// child's (a writer that is not an *os.File).
type stdoutWriter struct{}

func (stdoutWriter) Write(b []byte) (int, error) { return os.Stdout.Write(b) }

// reexecHelper is one image of the helper: the first starts a child that
// prints 300 numbered lines and exits 7, and each hands it to the next by
// Reexec (three images in all); the last waits for it.
func reexecHelper() int {
	gen, pid, fd := 1, 0, -1
	var p *Process
	var err error
	if st := os.Getenv(reexecState); st != "" {
		if _, err := fmt.Sscanf(st, "%d %d %d", &gen, &pid, &fd); err != nil {
			fmt.Fprintln(os.Stderr, "helper: state:", err)
			return 1
		}
		p, err = Adopt(context.Background(), pid, os.NewFile(uintptr(fd), "stdout"), nil, &Options{Stdout: stdoutWriter{}})
	} else {
		p, err = Spawn(context.Background(), "sh", []string{"-c", `i=0; while [ $i -lt 300 ]; do echo "line $i"; i=$((i+1)); sleep 0.002; done; exit 7`},
			&Options{Stdout: stdoutWriter{}, Stderr: os.Stderr})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "gen %d pid %d child %d\n", gen, os.Getpid(), p.Pid)
	if gen == 3 {
		err := p.Wait()
		var ee *ExitError
		if !errors.As(err, &ee) {
			fmt.Fprintln(os.Stderr, "helper: wait:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "exit %d\n", ee.Code)
		return 0
	}
	time.Sleep(100 * time.Millisecond)
	out, _, err := p.Detach()
	if err != nil || out == nil {
		fmt.Fprintln(os.Stderr, "helper: detach:", out, err)
		return 1
	}
	if _, err := unix.FcntlInt(out.Fd(), unix.F_SETFD, 0); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	env := append(withoutVar(os.Environ(), reexecState), fmt.Sprintf("%s=%d %d %d", reexecState, gen+1, p.Pid, out.Fd()))
	err = Reexec(os.Args[0], os.Args, env)
	fmt.Fprintln(os.Stderr, "helper: reexec:", err)
	return 1
}

// A process that replaces its image twice keeps its child, which it
// started from its main thread (ServeStarts): the last image waits for it
// and gets its exit code, and no line of its output is lost or repeated.
func TestReexecKeepsChildren(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=reexec")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	n := 0
	for sc.Scan() {
		if want := "line " + strconv.Itoa(n); sc.Text() != want {
			t.Fatalf("line %d of the output: %q, want %q", n+1, sc.Text(), want)
		}
		n++
	}
	if n != 300 {
		t.Fatalf("%d lines, want 300\n%s", n, stderr.String())
	}
	var pids []string
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if f := strings.Fields(l); len(f) == 6 && f[0] == "gen" {
			pids = append(pids, f[3]+"/"+f[5])
		}
	}
	if len(pids) != 3 || pids[0] != pids[1] || pids[1] != pids[2] {
		t.Fatalf("want 3 images with the same pid and child:\n%s", stderr.String())
	}
	if !strings.HasSuffix(stderr.String(), "exit 7\n") {
		t.Fatalf("the last image did not get the exit code:\n%s", stderr.String())
	}
}

// Adopt refuses a pid that is not a child of this process.
func TestAdoptNotChild(t *testing.T) {
	_, err := Adopt(context.Background(), os.Getppid(), nil, nil, nil)
	if !errors.Is(err, ErrNotChild) {
		t.Fatalf("Adopt(parent): %v, want ErrNotChild", err)
	}
}
