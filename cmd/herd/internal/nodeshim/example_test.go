package nodeshim_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/herdrun/herd/cmd/herd/internal/nodeshim"
)

// Write the shim where node can load it: node --require <shim> app.js then
// asks herd for the sockets its listen calls name. FDName is the name of a
// port's socket that herd opens before the program starts.
func Example() {
	dir, _ := os.MkdirTemp("", "shim-example-")
	defer os.RemoveAll(dir)
	shim, err := nodeshim.Path(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(shim) > 0, nodeshim.FDName(3000))
	// Output: true port-3000
}

// A broker answers a listen request with a socket bound to the host asked
// for; the relay (RelayMain) asks it the way Ask does and passes the
// socket on to node.
func ExampleNewBroker() {
	var opened []*os.File // the broker never closes what open returns
	defer func() {
		for _, f := range opened {
			f.Close()
		}
	}()
	b, err := nodeshim.NewBroker("", func(r nodeshim.Request) (*os.File, error) {
		ln, err := net.Listen("tcp", net.JoinHostPort(r.Host, strconv.Itoa(r.Port)))
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		f, err := ln.(*net.TCPListener).File()
		if err == nil {
			opened = append(opened, f)
		}
		return f, err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	f, addr, err := nodeshim.Ask(context.Background(), b.Path(), nodeshim.Request{Host: "127.0.0.1", Port: 0})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	host, _, _ := net.SplitHostPort(addr)
	fmt.Println(host)
	// Output: 127.0.0.1
}
