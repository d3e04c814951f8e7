package child_test

import (
	"context"
	"fmt"

	"github.com/herdrun/herd/child"
)

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
