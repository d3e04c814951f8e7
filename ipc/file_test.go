package ipc_test

import (
	"errors"
	"testing"

	"github.com/herdrun/herd/ipc"
)

// File hands the channel on: a Conn made of the duplicate gets what the
// peer sends after the original is closed, and the original's Close does
// not end the channel for the peer.
func TestFileCarriesTheChannel(t *testing.T) {
	for _, mode := range []ipc.Mode{ipc.ModeNode, ipc.ModeFast} {
		t.Run(mode.String(), func(t *testing.T) {
			opts := &ipc.Options{Mode: mode}
			a, b := pair(t, opts)
			ctx := ctxT(t)
			f, err := a.File()
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := a.File(); !errors.Is(err, ipc.ErrClosed) {
				t.Errorf("File after Close = %v, want ErrClosed", err)
			}
			c, err := ipc.New(f, opts)
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := b.Send(ctx, "after the hand-over"); err != nil {
				t.Fatal(err)
			}
			m, err := c.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Data) != `"after the hand-over"` {
				t.Errorf("got %s", m.Data)
			}
			if err := c.Send(ctx, "back"); err != nil {
				t.Fatal(err)
			}
			if m, err := b.Recv(ctx); err != nil || string(m.Data) != `"back"` {
				t.Errorf("peer got %s, %v", m.Data, err)
			}
		})
	}
}
