package ipc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/herdrun/herd/ipc"
)

// Tests of RecvView: the messages it lends are right, what Recv returns is
// never overwritten by a later read, and the background reader leaves a
// lent message alone.

// fastFrame is one fast-mode frame of kind with payload p.
func fastFrame(kind ipc.Kind, p []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(p)))
	return append(append(b, byte(kind), 0), p...)
}

// pattern is n bytes that differ from those of another seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

func TestRecvViewMixedSizes(t *testing.T) {
	// Small messages, payloads that span reads, one over the lending
	// buffer's limit, alternately taken with RecvView and Recv: each is
	// right when it is returned, and the ones from Recv stay right after
	// the views that follow.
	sizes := []int{1, 100, 10 << 10, 64 << 10, 200 << 10, 3, (1 << 20) + 5, 70 << 10, 5}
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			sent := make(chan error, 1)
			go func() {
				for round := range 3 {
					for i, n := range sizes {
						if err := a.SendBytes(ctx, pattern(n, byte(round*len(sizes)+i))); err != nil {
							sent <- err
							return
						}
					}
				}
				sent <- nil
			}()
			type owned struct {
				data []byte
				want []byte
			}
			var kept []owned
			for round := range 3 {
				for i, n := range sizes {
					want := pattern(n, byte(round*len(sizes)+i))
					recv := b.RecvView
					if i%2 == 1 {
						recv = b.Recv
					}
					m, err := recv(ctx)
					if err != nil {
						t.Fatal(err)
					}
					got, err := m.Bytes()
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("round %d message %d (%d bytes): wrong payload", round, i, n)
					}
					if i%2 == 1 {
						kept = append(kept, owned{got, want})
					}
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
			for i, k := range kept {
				if !bytes.Equal(k.data, k.want) {
					t.Fatalf("message %d from Recv changed after later reads", i)
				}
			}
		})
	}
}

func TestRecvViewSurvivesBackgroundReader(t *testing.T) {
	// A lent message stays intact while no Recv call is made, even when
	// the background reader reads what comes next into the same buffers.
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			c, peer := rawPair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			first, next := []byte(`{"n":"first-message"}`), []byte(`{"n":"later-message"}`)
			frame := func(p []byte) []byte {
				if mode == ipc.ModeFast {
					return fastFrame(ipc.KindJSON, p)
				}
				return append(bytes.Clone(p), '\n')
			}
			if _, err := peer.Write(frame(first)); err != nil {
				t.Fatal(err)
			}
			m, err := c.RecvView(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Data, first) {
				t.Fatalf("got %s, want %s", m.Data, first)
			}
			// The next message and the end of the stream: the background
			// reader (no Recv call is in progress) reads both.
			if _, err := peer.Write(frame(next)); err != nil {
				t.Fatal(err)
			}
			peer.Close()
			waitDone(t, c, 10*time.Second)
			if !bytes.Equal(m.Data, first) {
				t.Fatalf("lent message became %q after the background reader read on; want %s", m.Data, first)
			}
			m2, err := c.Recv(ctx)
			if err != nil || !bytes.Equal(m2.Data, next) {
				t.Fatalf("Recv: %q, %v; want %s", m2.Data, err, next)
			}
			if _, err := c.RecvView(ctx); !errors.Is(err, ipc.ErrDisconnected) {
				t.Fatalf("RecvView at the end: %v, want ErrDisconnected", err)
			}
		})
	}
}

func TestRecvViewInterruptedFrameIsOwned(t *testing.T) {
	// A big payload whose lending read is cut short by its context, and
	// then finished by a Recv, belongs to that Recv's caller: a later
	// RecvView of another big payload does not change it.
	c, peer := rawPair(t, &ipc.Options{Mode: ipc.ModeFast})
	ctx := ctxT(t)
	big1, big2 := pattern(300<<10, 1), pattern(300<<10, 2)
	f1 := fastFrame(ipc.KindBytes, big1)
	half := len(f1) / 2
	wrote := make(chan error, 1)
	go func() {
		_, err := peer.Write(f1[:half])
		wrote <- err
	}()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err := c.RecvView(short)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RecvView of half a frame: %v, want DeadlineExceeded", err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	go func() {
		_, err := peer.Write(append(f1[half:], fastFrame(ipc.KindBytes, big2)...))
		wrote <- err
	}()
	m1, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m1.Data, big1) {
		t.Fatal("first payload wrong")
	}
	m2, err := c.RecvView(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m2.Data, big2) {
		t.Fatal("second payload wrong")
	}
	if !bytes.Equal(m1.Data, big1) {
		t.Fatal("the payload Recv returned changed when RecvView read the next one")
	}
}

func TestRecvViewNodePeerMessages(t *testing.T) {
	// Node's internal messages are still handled under RecvView, and the
	// ordinary lines around them arrive intact.
	c, peer := rawPair(t, &ipc.Options{Mode: ipc.ModeNode})
	ctx := ctxT(t)
	var in bytes.Buffer
	for i := range 50 {
		fmt.Fprintf(&in, "{\"i\":%d}\n", i)
		if i%10 == 0 {
			in.WriteString(`{"cmd":"NODE_SOCKET_GET_COUNT","key":"k"}` + "\n")
		}
	}
	go peer.Write(in.Bytes())
	for i := range 50 {
		m, err := c.RecvView(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ I int }
		if err := m.Decode(&v); err != nil || v.I != i {
			t.Fatalf("message %d: %s (%v)", i, m.Data, err)
		}
	}
	// Five answers, one per query.
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 4096)
	for bytes.Count(got, []byte("NODE_SOCKET_COUNT")) < 5 {
		n, err := peer.Read(buf)
		if err != nil {
			t.Fatalf("reading the answers: %v (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
}
