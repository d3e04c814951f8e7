package testutil_test

import (
	"fmt"
	"os"

	"github.com/herdrun/herd/internal/testutil"
)

// A SyncBuffer takes the place of a bytes.Buffer as a process's stdout or a
// logger's output when the test reads it while it is being written.
func ExampleSyncBuffer() {
	var out testutil.SyncBuffer
	fmt.Fprintln(&out, "Server listening on http://127.0.0.1:3000")
	fmt.Print(out.String())
	// Output: Server listening on http://127.0.0.1:3000
}

// Gone is false for a process that runs, such as the test itself.
func ExampleGone() {
	fmt.Println(testutil.Gone(os.Getpid()))
	// Output: false
}
