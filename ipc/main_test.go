package ipc_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/herdrun/herd/ipc"
)

// TestMain doubles as the helper child: when HERD_IPC_TEST_HELPER is set,
// the test binary runs that helper instead of the tests.
func TestMain(m *testing.M) {
	if h := os.Getenv("HERD_IPC_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	goleak.VerifyTestMain(m)
}

func runHelper(name string) int {
	c, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	defer c.Close()
	ctx := context.Background()
	switch name {
	case "echo":
		// Echo every message back, with its handle, until disconnect.
		for {
			m, err := c.Recv(ctx)
			if err != nil {
				return 0
			}
			switch {
			case m.Handle != nil:
				err = c.SendHandle(ctx, jsonRaw(m.Data), m.Handle)
				closeAny(m.Handle)
			case m.Kind == ipc.KindBytes:
				err = c.SendBytes(ctx, m.Data)
			default:
				err = c.Send(ctx, jsonRaw(m.Data))
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "helper send:", err)
				return 4
			}
		}
	case "mode":
		// Report the negotiated mode and what the environment kept.
		c.Send(ctx, map[string]any{
			"mode": c.Mode().String(),
			"fd":   os.Getenv(ipc.EnvChannelFD),
			"herd": os.Getenv(ipc.EnvMode),
		})
		<-c.Done()
		return 0
	case "wait-disconnect":
		c.Send(ctx, "ready")
		<-c.Done()
		if c.Err() == ipc.ErrDisconnected {
			return 7
		}
		return 8
	}
	return 2
}
