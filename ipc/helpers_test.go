package ipc_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/herdrun/herd/ipc"
)

func jsonRaw(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return json.RawMessage(b)
}

func closeAny(h any) {
	if c, ok := h.(io.Closer); ok {
		c.Close()
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pair returns two connected Conns in the given mode.
func pair(t testing.TB, opts *ipc.Options) (*ipc.Conn, *ipc.Conn) {
	t.Helper()
	a, f, err := ipc.Pair(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ipc.New(f, opts)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// rawPair returns a Conn and the raw peer socket, to write arbitrary bytes.
func rawPair(t testing.TB, opts *ipc.Options) (*ipc.Conn, *os.File) {
	t.Helper()
	a, f, err := ipc.Pair(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); f.Close() })
	return a, f
}

// startHelper runs this test binary as a child with a channel.
func startHelper(t testing.TB, name string, mode ipc.Mode, extraEnv ...string) (*ipc.Conn, *exec.Cmd) {
	t.Helper()
	c, remote, err := ipc.Pair(&ipc.Options{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(ipc.ChildEnv(os.Environ(), 3, mode), "HERD_IPC_TEST_HELPER="+name)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	remote.Close()
	t.Cleanup(func() {
		c.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return c, cmd
}

func execHelper(env []string, remote *os.File) *exec.Cmd {
	cmd := exec.Command(os.Args[0])
	cmd.Env = env
	cmd.ExtraFiles = []*os.File{remote}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	remote.Close()
	return cmd
}
