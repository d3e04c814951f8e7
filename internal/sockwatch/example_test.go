package sockwatch_test

import (
	"fmt"
	"net"
	"os"

	"github.com/herdrun/herd/internal/sockwatch"
)

// A Go listener is in the runtime's epoll set from the moment it exists, so
// this process counts as accepting on it.
func ExampleAccepting() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	inodes, err := sockwatch.ListenInodes([]int{ln.Addr().(*net.TCPAddr).Port})
	if err != nil {
		panic(err)
	}
	fmt.Println(sockwatch.Accepting(os.Getpid(), inodes))
	// Output: true
}
