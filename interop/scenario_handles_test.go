package interop_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// ioTimeout bounds every socket operation of the handles scenario.
const ioTimeout = 20 * time.Second

// scenarioHandles passes listeners and connections both ways and uses each
// on the receiving side:
//
//  1. Go sends a listener; Node serves a connection on it.
//  2. Go sends an accepted connection; Node answers on it.
//  3. Node sends a listening net.Server; Go accepts a connection Node makes.
//  4. Node sends a server-side net.Socket; Go talks on it; Node's server
//     then counts and closes, which asks the peer over the channel.
//  5. Node sends handles interleaved with messages, without waiting;
//     then Go does the same. Order and handle types must hold.
func scenarioHandles(p *peer) error {
	steps := []func(*peer) error{
		goSendsListener, goSendsConn, nodeSendsServer, nodeSendsSocket,
		nodeSendsInterleaved, goSendsInterleaved,
	}
	for _, step := range steps {
		if err := step(p); err != nil {
			return err
		}
	}
	return p.expectNoHandle("done", map[string]any{"done": "handles"})
}

func goSendsListener(p *peer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	err = p.c.SendHandle(p.ctx, map[string]any{"step": "go-server"}, ln)
	ln.Close() // Node holds the listening socket now; only it accepts.
	if err != nil {
		return fmt.Errorf("SendHandle(listener): %w", err)
	}
	if err := p.expectNoHandle("go-server-ready", map[string]any{"step": "go-server-ready"}); err != nil {
		return err
	}
	got, err := dialAndRead(addr, "")
	if err != nil {
		return fmt.Errorf("connect to the listener Node serves: %w", err)
	}
	if got != "served by node" {
		return fmt.Errorf("listener passed to Node: read %q, want %q", got, "served by node")
	}
	return nil
}

func goSendsConn(p *peer) error {
	client, server, closeAll, err := tcpPair()
	if err != nil {
		return err
	}
	defer closeAll()
	err = p.c.SendHandle(p.ctx, map[string]any{"step": "go-socket"}, server)
	server.Close() // Node holds the connection now.
	if err != nil {
		return fmt.Errorf("SendHandle(conn): %w", err)
	}
	got, err := writeAndRead(client, "ping from go")
	if err != nil {
		return fmt.Errorf("talk to Node over the passed connection: %w", err)
	}
	if want := "pong from node: ping from go"; got != want {
		return fmt.Errorf("connection passed to Node: read %q, want %q", got, want)
	}
	return nil
}

func nodeSendsServer(p *peer) error {
	m, err := p.recv("node-server")
	if err != nil {
		return err
	}
	ln, ok := m.Handle.(net.Listener)
	if !ok {
		closeHandle(m.Handle)
		return fmt.Errorf("node-server: handle is %T, want a net.Listener (message %s)", m.Handle, short(m.Data))
	}
	defer ln.Close()
	var msg struct {
		Step string `json:"step"`
		Port int    `json:"port"`
	}
	if err := m.Decode(&msg); err != nil || msg.Step != "node-server" {
		return fmt.Errorf("node-server: message %s (%v)", short(m.Data), err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || tcp.Port != msg.Port {
		return fmt.Errorf("node-server: listener is on %v, Node said port %d", ln.Addr(), msg.Port)
	}
	// Node has closed its own copy: only this process accepts from now on.
	if err := p.expectNoHandle("node-server-closed", map[string]any{"step": "node-server-closed"}); err != nil {
		return err
	}
	if err := p.send(map[string]any{"step": "dial"}); err != nil {
		return err
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
	conn, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept on the listener from Node: %w", err)
	}
	_, err = io.WriteString(conn, "served by go")
	conn.Close()
	if err != nil {
		return err
	}
	return p.expectNoHandle("dial-result", map[string]any{"step": "dial-result", "data": "served by go"})
}

func nodeSendsSocket(p *peer) error {
	m, err := p.recv("node-socket")
	if err != nil {
		return err
	}
	conn, ok := m.Handle.(net.Conn)
	if !ok {
		closeHandle(m.Handle)
		return fmt.Errorf("node-socket: handle is %T, want a net.Conn (message %s)", m.Handle, short(m.Data))
	}
	if err := equalJSON(m.Data, map[string]any{"step": "node-socket"}); err != nil {
		conn.Close()
		return fmt.Errorf("node-socket: %w", err)
	}
	got, err := writeAndRead(conn, "hello from go\n")
	conn.Close()
	if err != nil {
		return fmt.Errorf("talk over the socket from Node: %w", err)
	}
	if got != "bye from node" {
		return fmt.Errorf("socket from Node: read %q, want %q", got, "bye from node")
	}
	return p.expectNoHandle("node-socket-done", map[string]any{"step": "node-socket-done", "connections": 0, "closed": true})
}

// interleavedMsg is message i of the interleaved steps. Message 5 carries a
// large string along with its handle, so its line spans several socket
// buffers.
func interleavedMsg(i int) map[string]any {
	if i == 5 {
		return map[string]any{"seq": i, "pad": strings.Repeat("p", 300000)}
	}
	return map[string]any{"seq": i}
}

// nodeSendsInterleaved receives seq 0..6 where 1 and 5 carry a server and 3
// a socket; Node sent them all without waiting for acknowledgements.
func nodeSendsInterleaved(p *peer) error {
	for i := range 7 {
		h, err := p.expect(fmt.Sprintf("interleaved %d", i), interleavedMsg(i))
		if err != nil {
			return err
		}
		err = checkHandle(i, h)
		closeHandle(h)
		if err != nil {
			return err
		}
	}
	return nil
}

func checkHandle(i int, h any) error {
	switch i {
	case 1, 5:
		if _, ok := h.(net.Listener); !ok {
			return fmt.Errorf("interleaved %d: handle is %T, want a net.Listener", i, h)
		}
	case 3:
		if _, ok := h.(net.Conn); !ok {
			return fmt.Errorf("interleaved %d: handle is %T, want a net.Conn", i, h)
		}
	default:
		if h != nil {
			return fmt.Errorf("interleaved %d: unexpected handle %T", i, h)
		}
	}
	return nil
}

// goSendsInterleaved sends what nodeSendsInterleaved receives. Each
// SendHandle returns once written; the next send waits for Node's ACK.
func goSendsInterleaved(p *peer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	_, server, closeAll, err := tcpPair()
	if err != nil {
		return err
	}
	defer closeAll()
	for i := range 7 {
		msg := interleavedMsg(i)
		switch i {
		case 1, 5:
			err = p.c.SendHandle(p.ctx, msg, ln)
		case 3:
			err = p.c.SendHandle(p.ctx, msg, server)
		default:
			err = p.c.Send(p.ctx, msg)
		}
		if err != nil {
			return fmt.Errorf("interleaved %d: %w", i, err)
		}
	}
	return nil
}

// tcpPair returns both ends of a loopback TCP connection and a function
// that closes everything.
func tcpPair() (client, server net.Conn, closeAll func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	defer ln.Close()
	client, err = net.DialTimeout("tcp", ln.Addr().String(), ioTimeout)
	if err != nil {
		return nil, nil, nil, err
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		return nil, nil, nil, err
	}
	return client, server, func() { client.Close(); server.Close() }, nil
}

// dialAndRead connects to addr, writes send, and reads until the peer closes.
func dialAndRead(addr, send string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return writeAndRead(conn, send)
}

// writeAndRead writes send on conn and reads until the peer closes.
func writeAndRead(conn net.Conn, send string) (string, error) {
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if send != "" {
		if _, err := io.WriteString(conn, send); err != nil {
			return "", err
		}
	}
	b, err := io.ReadAll(conn)
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return string(b), err
}
