package interop_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// sharedSockets is SHARED_SOCKETS of
// testdata/scenarios.js.
const sharedSockets = 12

// scenarioSockets is the receiving side of Node's shared server sockets
// (test-child-process-fork-getconnections): Node's server sends every
// connection it accepts; this side writes the socket's id on it, keeps it,
// and closes it when Node asks. Node checks server.getConnections() after
// each close, and that server.close() calls back only once the last socket
// here is closed.
func scenarioSockets(p *peer) error {
	conns := make([]net.Conn, sharedSockets)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range sharedSockets {
		m, err := p.recv(fmt.Sprintf("socket %d", i))
		if err != nil {
			return err
		}
		conn, ok := m.Handle.(net.Conn)
		if !ok {
			closeHandle(m.Handle)
			return fmt.Errorf("socket %d: handle is %T, want a net.Conn (message %s)", i, m.Handle, short(m.Data))
		}
		conns[i] = conn
		if err := equalJSON(m.Data, map[string]any{"cmd": "new", "id": i}); err != nil {
			return fmt.Errorf("socket %d: %w", i, err)
		}
		conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := fmt.Fprintf(conn, "%d\n", i); err != nil {
			return fmt.Errorf("socket %d: write: %w", i, err)
		}
	}
	for i := range sharedSockets {
		if err := p.expectNoHandle(fmt.Sprintf("close %d", i), map[string]any{"cmd": "close", "id": i}); err != nil {
			return err
		}
		err := conns[i].Close()
		conns[i] = nil
		if err != nil {
			return fmt.Errorf("close socket %d: %w", i, err)
		}
		if err := p.send(map[string]any{"status": "closed", "id": i}); err != nil {
			return err
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "sockets"})
}

// udpKinds are the UDP sockets the dgram scenario passes each way, as
// UDP_TYPES in testdata/scenarios.js.
var udpKinds = []struct{ typ, addr string }{
	{"udp4", "127.0.0.1:0"},
	{"udp6", "[::1]:0"},
}

// scenarioDgram passes UDP sockets both ways (test-child-process-fork-dgram):
//
//  1. Go sends a bound udp4 and udp6 socket; Node must get a dgram.Socket of
//     that type, and answers a datagram sent to it from here.
//  2. Node sends a udp4 and a udp6 dgram.Socket, and then a raw UDP handle
//     (type "dgram.Native"); each arrives as a net.PacketConn, which
//     answers a datagram Node sends to it.
func scenarioDgram(p *peer) error {
	for _, k := range udpKinds {
		if err := goSendsUDP(p, k.typ, k.addr); err != nil {
			return err
		}
	}
	for _, step := range []string{"node-udp4", "node-udp6", "node-udp4-native"} {
		if err := nodeSendsUDP(p, step); err != nil {
			return err
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "dgram"})
}

func goSendsUDP(p *peer, typ, addr string) error {
	pc, err := net.ListenPacket(typ, addr)
	if err != nil {
		return err
	}
	to := pc.LocalAddr()
	err = p.c.SendHandle(p.ctx, map[string]any{"step": "go-" + typ}, pc)
	pc.Close() // only Node reads from it now
	if err != nil {
		return fmt.Errorf("SendHandle(%s socket): %w", typ, err)
	}
	client, err := net.ListenPacket(typ, addr)
	if err != nil {
		return err
	}
	defer client.Close()
	ping := "ping from go " + typ
	got, from, err := pingUntilAnswered(client, to, ping)
	if err != nil {
		return fmt.Errorf("%s socket passed to Node: %w", typ, err)
	}
	if want := "pong from node: " + ping; got != want {
		return fmt.Errorf("%s socket passed to Node: read %q, want %q", typ, got, want)
	}
	if from.String() != to.String() {
		return fmt.Errorf("%s socket passed to Node: answer from %v, want %v", typ, from, to)
	}
	return p.expectNoHandle("go-"+typ+"-done", map[string]any{"step": "go-" + typ + "-done"})
}

// pingUntilAnswered sends text to addr every 200 ms until a datagram comes
// back (UDP may drop datagrams), within ioTimeout.
func pingUntilAnswered(pc net.PacketConn, addr net.Addr, text string) (string, net.Addr, error) {
	deadline := time.Now().Add(ioTimeout)
	buf := make([]byte, 2048)
	for time.Now().Before(deadline) {
		if _, err := pc.WriteTo([]byte(text), addr); err != nil {
			return "", nil, err
		}
		pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, from, err := pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return string(buf[:n]), from, nil
	}
	return "", nil, fmt.Errorf("no answer to %q within %v", text, ioTimeout)
}

func nodeSendsUDP(p *peer, step string) error {
	m, err := p.recv(step)
	if err != nil {
		return err
	}
	pc, ok := m.Handle.(net.PacketConn)
	if !ok {
		closeHandle(m.Handle)
		return fmt.Errorf("%s: handle is %T, want a net.PacketConn (message %s)", step, m.Handle, short(m.Data))
	}
	defer pc.Close()
	var msg struct {
		Step string `json:"step"`
		Port int    `json:"port"`
	}
	if err := m.Decode(&msg); err != nil || msg.Step != step {
		return fmt.Errorf("%s: message %s (%v)", step, short(m.Data), err)
	}
	if udp, ok := pc.LocalAddr().(*net.UDPAddr); !ok || udp.Port != msg.Port {
		return fmt.Errorf("%s: socket is on %v, Node said port %d", step, pc.LocalAddr(), msg.Port)
	}
	pc.SetDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 2048)
	n, from, err := pc.ReadFrom(buf)
	if err != nil {
		return fmt.Errorf("%s: read from the socket Node sent: %w", step, err)
	}
	if _, err := pc.WriteTo(append([]byte("pong from go: "), buf[:n]...), from); err != nil {
		return fmt.Errorf("%s: answer on the socket Node sent: %w", step, err)
	}
	return nil
}
