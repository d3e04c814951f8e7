package child_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/herdrun/herd/child"
	"golang.org/x/sys/unix"
)

// A program that replaces its own image with a newer binary and keeps its
// child: the old image detaches the child's output and execs; the new
// image (the same pid) adopts the child and goes on reading its output.
// The state travels in an environment variable here; a real program
// writes a file. (Compiled, not run: it replaces the process.)
func ExampleReexec() {
	const state = "EXAMPLE_CHILD" // "pid stdout-fd" in the new image
	if s := os.Getenv(state); s != "" {
		pid, _ := strconv.Atoi(strings.Fields(s)[0])
		fd, _ := strconv.Atoi(strings.Fields(s)[1])
		p, err := child.Adopt(context.Background(), pid, os.NewFile(uintptr(fd), "stdout"), nil, &child.Options{Stdout: os.Stdout})
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("adopted", p.Pid, "exit:", p.Wait())
		return
	}
	p, err := child.Spawn(context.Background(), "sh", []string{"-c", "while :; do date; sleep 1; done"}, &child.Options{Stdout: prefixed{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	out, _, _ := p.Detach()                         // what it writes from now on waits in the pipe
	_, _ = unix.FcntlInt(out.Fd(), unix.F_SETFD, 0) // through the exec
	env := append(os.Environ(), fmt.Sprintf("%s=%d %d", state, p.Pid, out.Fd()))
	exe, _ := os.Executable()
	fmt.Println(child.Reexec(exe, os.Args, env)) // returns only on failure
}

// prefixed is an output writer that is not an *os.File, so the child's
// output goes through a pipe that Detach can hand on.
type prefixed struct{}

func (prefixed) Write(b []byte) (int, error) { return os.Stdout.Write(b) }
