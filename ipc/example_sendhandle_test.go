package ipc_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/herdrun/herd/ipc"
)

// ExampleConn_SendHandle passes a listening socket to the peer, as a
// parent hands a server socket to a worker (Node's
// child.send(msg, server)). The receiver gets a net.Listener on the same
// socket and accepts the connections made to it; the sender may close its
// own copy as soon as SendHandle returns.
func ExampleConn_SendHandle() {
	parent, f, err := ipc.Pair(nil)
	if err != nil {
		panic(err)
	}
	worker, err := ipc.New(f, nil)
	f.Close()
	if err != nil {
		panic(err)
	}
	defer parent.Close()
	defer worker.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	addr := ln.Addr().String()
	if err := parent.SendHandle(ctx, "server", ln); err != nil {
		panic(err)
	}
	ln.Close() // the worker has its own descriptor now

	m, err := worker.Recv(ctx)
	if err != nil {
		panic(err)
	}
	wl := m.Handle.(net.Listener) // the receiver owns the handle
	defer wl.Close()
	fmt.Printf("message %s, handle %T\n", m.Data, m.Handle)

	// A client connects to the address the parent listened on; the worker
	// accepts it.
	client, err := net.Dial("tcp", addr)
	if err != nil {
		panic(err)
	}
	client.Write([]byte("hello"))
	client.Close()
	conn, err := wl.Accept()
	if err != nil {
		panic(err)
	}
	got, _ := io.ReadAll(conn)
	conn.Close()
	fmt.Printf("worker read %q\n", got)
	// Output:
	// message "server", handle *net.TCPListener
	// worker read "hello"
}
