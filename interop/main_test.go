package interop_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/herdrun/herd/ipc"
)

// helperEnv turns the test binary into the Go child of a Node parent: its
// value names the scenario to play.
const helperEnv = "HERD_INTEROP_HELPER"

func TestMain(m *testing.M) {
	if name := os.Getenv(helperEnv); name != "" {
		os.Exit(runHelper(name))
	}
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"))
}

// runHelper plays the Go side of scenario name as a child of a Node parent
// and returns the exit code: 0 only when every check passed.
func runHelper(name string) int {
	os.Unsetenv(helperEnv)
	conn, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "interop helper %s: %v\n", name, err)
		if errors.Is(err, ipc.ErrUnsupportedSerialization) {
			return 3
		}
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := &peer{ctx: ctx, c: conn}

	if fn, ok := sharedScenarios[name]; ok {
		if err := fn(p); err != nil {
			fmt.Fprintf(os.Stderr, "interop helper %s: %v\n", name, err)
			return 1
		}
		return 0
	}
	switch name {
	case "wait-disconnect":
		// The Node parent calls child.disconnect() after "ready".
		if err := p.send("ready"); err != nil {
			fmt.Fprintf(os.Stderr, "interop helper %s: %v\n", name, err)
			return 1
		}
		m, err := conn.Recv(ctx)
		if !errors.Is(err, ipc.ErrDisconnected) {
			fmt.Fprintf(os.Stderr, "interop helper %s: Recv = %q, %v; want ipc.ErrDisconnected\n", name, m.Data, err)
			return 1
		}
		return 0
	case "close-channel":
		// Close the channel and stay alive: the Node parent must see
		// 'disconnect' while this process runs, and then kills it.
		if err := p.send("closing"); err != nil {
			fmt.Fprintf(os.Stderr, "interop helper %s: %v\n", name, err)
			return 1
		}
		conn.Close()
		time.Sleep(20 * time.Second)
		fmt.Fprintf(os.Stderr, "interop helper %s: not killed within 20s\n", name)
		return 1
	case "exit5":
		if err := p.send("exiting with 5"); err != nil {
			fmt.Fprintf(os.Stderr, "interop helper %s: %v\n", name, err)
			return 1
		}
		return 5
	}
	fmt.Fprintf(os.Stderr, "interop helper: unknown scenario %q\n", name)
	return 2
}
