package ipc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdrun/herd/ipc"
)

// ExampleFromEnv opens the channel a parent set up, as a child process
// does at start-up. Here the child is simulated in this process: the
// variables that ChildEnv would give a child are set to a descriptor of
// the far end of a Pair.
func ExampleFromEnv() {
	parent, f, err := ipc.Pair(nil)
	if err != nil {
		panic(err)
	}
	defer parent.Close()
	// A real child inherits the descriptor (as fd 3). FromEnv takes over
	// the descriptor it is given, so give it a copy of f's.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	f.Close()
	if err != nil {
		panic(err)
	}
	for _, kv := range ipc.ChildEnv(nil, fd, ipc.ModeNode) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}

	// In the child:
	child, err := ipc.FromEnv(nil)
	if err != nil {
		panic(err)
	}
	defer child.Close()
	_, still := os.LookupEnv(ipc.EnvChannelFD)
	fmt.Println("mode:", child.Mode(), "variable left for grandchildren:", still)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := child.Send(ctx, map[string]string{"status": "ready"}); err != nil {
		panic(err)
	}
	m, err := parent.Recv(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("parent got", string(m.Data))
	// Output:
	// mode: node variable left for grandchildren: false
	// parent got {"status":"ready"}
}
