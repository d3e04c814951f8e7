package child_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/herdrun/herd/child"
)

func ExampleExec() {
	res, err := child.Exec(context.Background(), "echo hello; echo oops >&2; exit 3", nil)
	fmt.Printf("stdout: %q\n", res.Stdout)
	var ee *child.ExitError
	if errors.As(err, &ee) {
		fmt.Println("code:", ee.Code)
	}
	fmt.Println(err)
	// Output:
	// stdout: "hello\n"
	// code: 3
	// child: "echo hello; echo oops >&2; exit 3" exited with code 3: oops
}

func ExampleExec_timeout() {
	_, err := child.Exec(context.Background(), "sleep 10", &child.Options{Timeout: 50 * time.Millisecond})
	fmt.Println(errors.Is(err, child.ErrTimeout))
	fmt.Println(err)
	// Output:
	// true
	// child: "sleep 10" killed by SIGTERM (timed out)
}

func ExampleExecFile() {
	// No shell: the arguments reach the program as they are.
	res, err := child.ExecFile(context.Background(), "printf", []string{"%s|%s\n", "a b", "$HOME"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(res.Stdout))
	// Output:
	// a b|$HOME
}

func ExampleSpawn() {
	p, err := child.Spawn(context.Background(), "sh", []string{"-c", "for i in 1 2 3; do echo line $i; done"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for line, err := range child.Lines(p.Stdout) {
		if err != nil {
			fmt.Println("read:", err)
			break
		}
		fmt.Println(line)
	}
	fmt.Println("wait:", p.Wait(), "exit code:", p.ExitCode())
	// Output:
	// line 1
	// line 2
	// line 3
	// wait: <nil> exit code: 0
}
