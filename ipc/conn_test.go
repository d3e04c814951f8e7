package ipc_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/ipc"
)

var modes = []ipc.Mode{ipc.ModeNode, ipc.ModeFast}

func TestRoundTripBothModes(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			type msg struct {
				Text  string         `json:"text"`
				N     float64        `json:"n"`
				Nil   any            `json:"nil"`
				Inner map[string]any `json:"inner"`
			}
			in := msg{Text: "line\u2028sep \U0001F600 \"q\" <&>", N: 1.5e300, Inner: map[string]any{"a": []any{1.0, "x", nil}}}
			if err := a.Send(ctx, in); err != nil {
				t.Fatal(err)
			}
			m, err := b.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var out msg
			if err := m.Decode(&out); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(out) != fmt.Sprint(in) {
				t.Fatalf("got %+v, want %+v", out, in)
			}
			payload := bytes.Repeat([]byte{0, 1, 2, 255}, 50000)
			if err := b.SendBytes(ctx, payload); err != nil {
				t.Fatal(err)
			}
			m, err = a.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload mismatch: %d bytes vs %d", len(got), len(payload))
			}
			wantKind := ipc.KindJSON
			if mode == ipc.ModeFast {
				wantKind = ipc.KindBytes
			}
			if m.Kind != wantKind {
				t.Fatalf("kind %c, want %c", m.Kind, wantKind)
			}
		})
	}
}

func TestOrderOf10000Messages(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)
			const n = 10000
			errc := make(chan error, 1)
			go func() {
				for i := range n {
					if err := a.Send(ctx, i); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			for i := range n {
				m, err := b.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var v int
				if err := m.Decode(&v); err != nil || v != i {
					t.Fatalf("message %d: got %d (%v)", i, v, err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPassFileListenerConn(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := pair(t, &ipc.Options{Mode: mode})
			ctx := ctxT(t)

			// A listener: the receiver accepts a connection made to the sender's address.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := a.SendHandle(ctx, "server", ln); err != nil {
				t.Fatal(err)
			}
			m, err := b.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rl, ok := m.Handle.(net.Listener)
			if !ok {
				t.Fatalf("handle is %T, want net.Listener", m.Handle)
			}
			var s string
			m.Decode(&s)
			if s != "server" {
				t.Fatalf("message %q", s)
			}
			go func() {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err == nil {
					c.Write([]byte("hi"))
					c.Close()
				}
			}()
			rc, err := rl.Accept()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			rl.Close()
			if string(got) != "hi" {
				t.Fatalf("read %q through the passed listener", got)
			}

			// A connection: bytes written to the passed conn reach the far end.
			c1, c2 := net.Pipe()
			c1.Close()
			c2.Close()
			srv, cli := tcpPair(t)
			if err := a.SendHandle(ctx, nil, srv); err != nil {
				t.Fatal(err)
			}
			srv.Close()
			m, err = b.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rconn, ok := m.Handle.(net.Conn)
			if !ok {
				t.Fatalf("handle is %T, want net.Conn", m.Handle)
			}
			rconn.Write([]byte("pong"))
			rconn.Close()
			got, _ = io.ReadAll(cli)
			cli.Close()
			if string(got) != "pong" {
				t.Fatalf("read %q through the passed conn", got)
			}

			// A file (fast mode and herd peers in node mode both take files).
			f, err := os.CreateTemp(t.TempDir(), "h")
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("file contents")
			if err := a.SendHandle(ctx, map[string]int{"n": 1}, f); err != nil {
				if mode == ipc.ModeNode && errors.Is(err, ipc.ErrHandleType) {
					f.Close()
					return // Node peers take only sockets; herd refuses up front.
				}
				t.Fatal(err)
			}
			f.Close()
			m, err = b.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rf, ok := m.Handle.(*os.File)
			if !ok {
				t.Fatalf("handle is %T, want *os.File", m.Handle)
			}
			rf.Seek(0, 0)
			got, _ = io.ReadAll(rf)
			rf.Close()
			if string(got) != "file contents" {
				t.Fatalf("read %q through the passed file", got)
			}
		})
	}
}

func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

func TestHandleThenMessagesKeepOrderNodeMode(t *testing.T) {
	// Node mode holds later messages until the handle is acknowledged.
	a, b := pair(t, &ipc.Options{Mode: ipc.ModeNode})
	ctx := ctxT(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		for i := range 3 {
			if err := a.SendHandle(ctx, i, ln); err != nil {
				done <- err
				return
			}
			if err := a.Send(ctx, fmt.Sprint("after", i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range 3 {
		m, err := b.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Handle == nil {
			t.Fatalf("message %d came without its handle", i)
		}
		closeAny(m.Handle)
		m, err = b.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		m.Decode(&s)
		if s != fmt.Sprint("after", i) || m.Handle != nil {
			t.Fatalf("got %q handle %v", s, m.Handle)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOversizeSendIsRefused(t *testing.T) {
	for _, mode := range modes {
		a, b := pair(t, &ipc.Options{Mode: mode, MaxMessageSize: 1000})
		ctx := ctxT(t)
		err := a.SendBytes(ctx, make([]byte, 2000))
		var se *ipc.SizeError
		if !errors.As(err, &se) || !errors.Is(err, ipc.ErrTooLarge) || se.Limit != 1000 {
			t.Fatalf("%s: got %v, want a SizeError", mode, err)
		}
		if err := a.Send(ctx, strings.Repeat("x", 2000)); !errors.Is(err, ipc.ErrTooLarge) {
			t.Fatalf("%s: got %v, want ErrTooLarge", mode, err)
		}
		// The channel still works after a refused send.
		if err := a.Send(ctx, "small"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Recv(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGarbageFromPeer writes bad bytes from a raw peer and checks the
// channel ends with a typed error and the peer sees the disconnect.
func TestGarbageFromPeer(t *testing.T) {
	huge := binary.BigEndian.AppendUint32(nil, 0xFFFFFFF0)
	cases := []struct {
		name string
		mode ipc.Mode
		in   []byte
		want error
	}{
		{"empty line", ipc.ModeNode, []byte("\n"), ipc.ErrMalformed},
		{"invalid json", ipc.ModeNode, []byte("{nope\n"), ipc.ErrMalformed},
		{"no newline past limit", ipc.ModeNode, bytes.Repeat([]byte("1"), 5000), ipc.ErrTooLarge},
		{"line past limit", ipc.ModeNode, append(bytes.Repeat([]byte("1"), 2000), '\n'), ipc.ErrTooLarge},
		{"truncated line", ipc.ModeNode, []byte(`{"a":`), ipc.ErrMalformed},
		{"huge length", ipc.ModeFast, append(huge, 'J', 0), ipc.ErrTooLarge},
		{"unknown kind", ipc.ModeFast, []byte{0, 0, 0, 1, 'X', 0, '1'}, ipc.ErrMalformed},
		{"unknown handle type", ipc.ModeFast, []byte{0, 0, 0, 1, 'J', 9, '1'}, ipc.ErrMalformed},
		{"handle without fd", ipc.ModeFast, []byte{0, 0, 0, 1, 'J', 1, '1'}, ipc.ErrMalformed},
		{"truncated header", ipc.ModeFast, []byte{0, 0, 0}, ipc.ErrMalformed},
		{"truncated frame", ipc.ModeFast, []byte{0, 0, 0, 10, 'B', 0, 1, 2}, ipc.ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.mode.String()+"/"+tc.name, func(t *testing.T) {
			c, peer := rawPair(t, &ipc.Options{Mode: tc.mode, MaxMessageSize: 1024})
			ctx := ctxT(t)
			peer.Write(tc.in)
			if strings.HasPrefix(tc.name, "truncated") {
				unixShutdownWrite(t, peer)
			}
			_, err := c.Recv(ctx)
			var pe *ipc.ProtocolError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want a ProtocolError wrapping %v", err, tc.want)
			}
			if _, err2 := c.Recv(ctx); !errors.Is(err2, tc.want) {
				t.Fatalf("second Recv: %v", err2)
			}
			// The peer sees the channel end.
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 16)
			if n, err := peer.Read(buf); err != io.EOF {
				t.Fatalf("peer read %d, %v; want EOF", n, err)
			}
		})
	}
}

func unixShutdownWrite(t *testing.T, f *os.File) {
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	c.(*net.UnixConn).CloseWrite()
	c.Close()
}

func TestBackpressureHonoursContext(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			// The peer never reads: sends fill the socket and the receive
			// budget, then block until the context ends.
			a, _ := rawPair(t, &ipc.Options{Mode: mode})
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			msg := strings.Repeat("x", 100)
			var err error
			start := time.Now()
			for i := 0; i < 1e6 && err == nil; i++ {
				err = a.Send(ctx, msg)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("send took %v to give up", d)
			}
		})
	}
}

func TestSlowReaderIsBounded(t *testing.T) {
	// A receiver that does not call Recv stops reading after RecvBuffer;
	// the sender blocks rather than the receiver buffering without bound.
	a, b := pair(t, &ipc.Options{Mode: ipc.ModeFast, RecvBuffer: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	chunk := make([]byte, 64<<10)
	sent := 0
	for sent < 64<<20 {
		if err := a.SendBytes(ctx, chunk); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "interrupted") {
				t.Fatal(err)
			}
			break
		}
		sent += len(chunk)
	}
	if sent >= 64<<20 {
		t.Fatalf("sent %d bytes to a receiver that never reads", sent)
	}
	// Everything sent is still delivered, in full.
	ctx2 := ctxT(t)
	for got := 0; got+len(chunk) <= sent; got += len(chunk) {
		m, err := b.Recv(ctx2)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		if len(m.Data) != len(chunk) {
			t.Fatalf("message of %d bytes", len(m.Data))
		}
	}
}

func TestCloseAndDisconnect(t *testing.T) {
	for _, mode := range modes {
		a, b := pair(t, &ipc.Options{Mode: mode})
		ctx := ctxT(t)
		a.Send(ctx, "last words")
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); !errors.Is(err, ipc.ErrClosed) {
			t.Fatalf("second Close: %v", err)
		}
		if err := a.Send(ctx, 1); !errors.Is(err, ipc.ErrClosed) {
			t.Fatalf("Send after Close: %v", err)
		}
		if _, err := a.Recv(ctx); !errors.Is(err, ipc.ErrClosed) {
			t.Fatalf("Recv after Close: %v", err)
		}
		// The peer gets what was sent, then a disconnect.
		m, err := b.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		m.Decode(&s)
		if s != "last words" {
			t.Fatalf("got %q", s)
		}
		if _, err := b.Recv(ctx); !errors.Is(err, ipc.ErrDisconnected) {
			t.Fatalf("peer Recv: %v, want ErrDisconnected", err)
		}
		<-b.Done()
		if !errors.Is(b.Err(), ipc.ErrDisconnected) {
			t.Fatalf("Err: %v", b.Err())
		}
		if err := b.Send(ctx, 1); !errors.Is(err, ipc.ErrDisconnected) {
			t.Fatalf("send to a closed peer: %v", err)
		}
	}
}

func TestRecvHonoursContext(t *testing.T) {
	_, b := pair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestModeNegotiation(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			c, _ := startHelper(t, "mode", mode)
			ctx := ctxT(t)
			m, err := c.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]string
			if err := m.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got["mode"] != mode.String() || got["fd"] != "" || got["herd"] != "" {
				t.Fatalf("child saw %v; want mode %s and the channel variables removed", got, mode)
			}
		})
	}
	t.Run("wrong parent pid falls back to node", func(t *testing.T) {
		// A fast-mode offer that names another parent (as when a Node
		// process in between passed its environment on) must not be taken.
		c, remote, err := ipc.Pair(nil)
		if err != nil {
			t.Fatal(err)
		}
		env := append(ipc.ChildEnv(os.Environ(), 3, ipc.ModeNode), ipc.EnvMode+"=fast", ipc.EnvParent+"=1", "HERD_IPC_TEST_HELPER=mode")
		cmd := execHelper(env, remote)
		defer cmd.Wait()
		defer c.Close()
		m, err := c.Recv(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]string
		m.Decode(&got)
		if got["mode"] != "node" {
			t.Fatalf("mode %q", got["mode"])
		}
	})
}

func TestEchoThroughChildProcess(t *testing.T) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			c, _ := startHelper(t, "echo", mode)
			ctx := ctxT(t)
			for i := range 100 {
				if err := c.Send(ctx, i); err != nil {
					t.Fatal(err)
				}
				m, err := c.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				var v int
				if m.Decode(&v); v != i {
					t.Fatalf("echo %d: %d", i, v)
				}
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			if err := c.SendHandle(ctx, "l", ln); err != nil {
				t.Fatal(err)
			}
			m, err := c.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m.Handle.(net.Listener); !ok {
				t.Fatalf("echoed handle is %T", m.Handle)
			}
			closeAny(m.Handle)
		})
	}
}

func TestChildSeesParentDeath(t *testing.T) {
	// When the parent's end goes away (here: closed, as when the parent
	// process dies), the child's channel reports a disconnect.
	c, cmd := startHelper(t, "wait-disconnect", ipc.ModeFast)
	ctx := ctxT(t)
	if _, err := c.Recv(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	err := cmd.Wait()
	var ee interface{ ExitCode() int }
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("child exit: %v, want code 7 (saw ErrDisconnected)", err)
	}
}

func TestFromEnvErrors(t *testing.T) {
	t.Setenv(ipc.EnvChannelFD, "")
	os.Unsetenv(ipc.EnvChannelFD)
	if _, err := ipc.FromEnv(nil); !errors.Is(err, ipc.ErrNoChannel) {
		t.Fatalf("unset: %v", err)
	}
	t.Setenv(ipc.EnvChannelFD, "x")
	if _, err := ipc.FromEnv(nil); !errors.Is(err, ipc.ErrNoChannel) {
		t.Fatalf("bad number: %v", err)
	}
	t.Setenv(ipc.EnvChannelFD, "3")
	t.Setenv(ipc.EnvSerialization, "advanced")
	if _, err := ipc.FromEnv(nil); !errors.Is(err, ipc.ErrUnsupportedSerialization) {
		t.Fatalf("advanced: %v", err)
	}
	t.Setenv(ipc.EnvSerialization, "json")
	t.Setenv(ipc.EnvChannelFD, "987")
	if _, err := ipc.FromEnv(nil); !errors.Is(err, ipc.ErrNoChannel) {
		t.Fatalf("closed fd: %v", err)
	}
}
