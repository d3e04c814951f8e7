package ipc_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/herdrun/herd/ipc"
)

// nodePeer is a raw ModeNode peer that writes lines (with descriptors) and
// reads lines with a deadline, to play a Node process byte for byte.
type nodePeer struct {
	t  *testing.T
	uc *net.UnixConn
	br *bufio.Reader
}

func newNodePeer(t *testing.T, raw *os.File) *nodePeer {
	t.Helper()
	nc, err := net.FileConn(raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	uc := nc.(*net.UnixConn)
	return &nodePeer{t: t, uc: uc, br: bufio.NewReader(uc)}
}

// write writes line plus "\n", with fd attached if it is not -1.
func (p *nodePeer) write(line string, fd int) {
	p.t.Helper()
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	if _, _, err := p.uc.WriteMsgUnix([]byte(line+"\n"), oob, nil); err != nil {
		p.t.Fatal(err)
	}
}

// line reads the next line, without its "\n".
func (p *nodePeer) line() string {
	p.t.Helper()
	p.uc.SetReadDeadline(time.Now().Add(20 * time.Second))
	s, err := p.br.ReadString('\n')
	if err != nil {
		p.t.Fatalf("peer read: %q, %v", s, err)
	}
	return strings.TrimSuffix(s, "\n")
}

func (p *nodePeer) expectLine(want string) {
	p.t.Helper()
	if got := p.line(); got != want {
		p.t.Fatalf("peer read %s\nwant %s", got, want)
	}
}

// tcpServerSide returns the server side of a loopback TCP connection as
// a file (for the peer to send and then close) and the client side.
func tcpServerSide(t *testing.T) (*os.File, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	f, err := server.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, client
}

// TestNodeSocketCounting plays a Node server that shares its sockets: the
// Conn counts them per key until each is closed, answers
// NODE_SOCKET_GET_COUNT with the count, and answers NODE_SOCKET_NOTIFY_CLOSE
// only once the key's sockets are all closed.
func TestNodeSocketCounting(t *testing.T) {
	c, raw := rawPair(t, &ipc.Options{Mode: ipc.ModeNode})
	p := newNodePeer(t, raw)
	ctx := ctxT(t)
	const keyA, keyB = `"4:127.0.0.1:8000"`, `"6:::1:9000"`
	keys := []string{keyA, keyA, keyB, ""}
	var clients []net.Conn
	for i, key := range keys {
		f, client := tcpServerSide(t)
		clients = append(clients, client)
		line := fmt.Sprintf(`{"cmd":"NODE_HANDLE","type":"net.Socket","msg":{"i":%d}`, i)
		if key != "" {
			line += `,"key":` + key
		}
		p.write(line+"}", int(f.Fd()))
		f.Close()
		p.expectLine(`{"cmd":"NODE_HANDLE_ACK"}`)
	}
	var conns []net.Conn
	for i := range keys {
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		nc, ok := m.Handle.(net.Conn)
		if !ok {
			t.Fatalf("socket %d: handle %T, want a net.Conn", i, m.Handle)
		}
		conns = append(conns, nc)
	}
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	if _, ok := conns[3].(*net.TCPConn); !ok {
		t.Errorf("a socket without a key is %T, want *net.TCPConn", conns[3])
	}
	// The counted socket is a working net.Conn.
	if _, err := conns[0].Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	clients[0].SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := clients[0].Read(buf); err != nil || string(buf) != "hi" {
		t.Fatalf("client read %q, %v", buf, err)
	}

	count := func(key string, want int) {
		t.Helper()
		p.write(`{"cmd":"NODE_SOCKET_GET_COUNT","key":`+key+`}`, -1)
		p.expectLine(fmt.Sprintf(`{"cmd":"NODE_SOCKET_COUNT","key":%s,"count":%d}`, key, want))
	}
	count(keyA, 2)
	count(keyB, 1)
	count(`"unknown"`, 0)

	// NOTIFY_CLOSE waits for keyA's two sockets; the next line the peer
	// reads is the answer to a later query, not ALL_CLOSED.
	p.write(`{"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":`+keyA+`}`, -1)
	count(keyB, 1)
	if err := conns[0].Close(); err != nil {
		t.Fatal(err)
	}
	if err := conns[0].Close(); err == nil {
		t.Error("second Close of a counted socket returned nil")
	}
	count(keyA, 1)
	if err := conns[1].Close(); err != nil {
		t.Fatal(err)
	}
	p.expectLine(`{"cmd":"NODE_SOCKET_ALL_CLOSED","key":` + keyA + `}`)
	count(keyA, 0)

	// A key with nothing open is answered at once; closing twice counts
	// once.
	conns[2].Close()
	conns[2].Close()
	count(keyB, 0)
	p.write(`{"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":`+keyB+`}`, -1)
	p.expectLine(`{"cmd":"NODE_SOCKET_ALL_CLOSED","key":` + keyB + `}`)
	p.write(`{"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":"never seen"}`, -1)
	p.expectLine(`{"cmd":"NODE_SOCKET_ALL_CLOSED","key":"never seen"}`)
}

// TestNodeSocketPassedOn: a counted socket can be passed on with
// SendHandle, and closing it after the Conn closed is harmless.
func TestNodeSocketPassedOn(t *testing.T) {
	c, raw := rawPair(t, &ipc.Options{Mode: ipc.ModeNode})
	p := newNodePeer(t, raw)
	ctx := ctxT(t)
	f, _ := tcpServerSide(t)
	p.write(`{"cmd":"NODE_HANDLE","type":"net.Socket","msg":1,"key":"k"}`, int(f.Fd()))
	f.Close()
	m, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nc := m.Handle.(net.Conn)
	a, b := pair(t, &ipc.Options{Mode: ipc.ModeFast})
	if err := a.SendHandle(ctx, "on", nc); err != nil {
		t.Fatalf("SendHandle of a counted socket: %v", err)
	}
	m2, err := b.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closeAny(m2.Handle)
	if _, ok := m2.Handle.(net.Conn); !ok {
		t.Fatalf("passed on: handle %T, want a net.Conn", m2.Handle)
	}
	// The peer waits for the socket; the Conn closes first.
	p.write(`{"cmd":"NODE_SOCKET_NOTIFY_CLOSE","key":"k"}`, -1)
	p.write(`"marker"`, -1)
	p.expectLine(`{"cmd":"NODE_HANDLE_ACK"}`)
	if m, err := c.Recv(ctx); err != nil || string(m.Data) != `"marker"` {
		t.Fatalf("Recv = %q, %v", m.Data, err)
	}
	c.Close()
	if err := nc.Close(); err != nil {
		t.Fatalf("Close of a counted socket after the channel closed: %v", err)
	}
}

// TestNodeUDPHandleWire: a UDP socket goes to a Node peer as Node's fork()
// sends it, a dgram.Socket with its dgramType; other datagram sockets go as
// the raw handle. Both types are accepted from the peer.
func TestNodeUDPHandleWire(t *testing.T) {
	c, raw := rawPair(t, &ipc.Options{Mode: ipc.ModeNode})
	p := newNodePeer(t, raw)
	ctx := ctxT(t)
	for _, tc := range []struct{ network, addr, want string }{
		{"udp4", "127.0.0.1:0", `{"cmd":"NODE_HANDLE","type":"dgram.Socket","msg":{"n":"udp4"},"dgramType":"udp4"}`},
		{"udp6", "[::1]:0", `{"cmd":"NODE_HANDLE","type":"dgram.Socket","msg":{"n":"udp6"},"dgramType":"udp6"}`},
		{"unixgram", "@herd-test-" + fmt.Sprint(os.Getpid()), `{"cmd":"NODE_HANDLE","type":"dgram.Native","msg":{"n":"unixgram"}}`},
	} {
		pc, err := net.ListenPacket(tc.network, tc.addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.network, err)
		}
		err = c.SendHandle(ctx, map[string]string{"n": tc.network}, pc)
		pc.Close()
		if err != nil {
			t.Fatalf("SendHandle(%s): %v", tc.network, err)
		}
		p.expectLine(tc.want)
		p.write(`{"cmd":"NODE_HANDLE_ACK"}`, -1)
	}
	for _, typ := range []string{"dgram.Socket", "dgram.Native"} {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := pc.(*net.UDPConn).File()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		p.write(`{"cmd":"NODE_HANDLE","type":"`+typ+`","msg":"u","dgramType":"udp4"}`, int(f.Fd()))
		f.Close()
		m, err := c.Recv(ctx)
		if err != nil {
			t.Fatal(err)
		}
		closeAny(m.Handle)
		if _, ok := m.Handle.(net.PacketConn); !ok {
			t.Errorf("%s: handle %T, want a net.PacketConn", typ, m.Handle)
		}
	}
}
