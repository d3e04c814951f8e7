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
