package cluster

import (
	"context"
	"net"
	"testing"
)

// A listening socket handed over with Addr.File: the duplicate accepts the
// connections of the same queue, at the same address.
func TestAdoptSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := openShared(context.Background(), PolicyShared, Addr{File: f})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if s.addr.String() != ln.Addr().String() {
		t.Fatalf("adopted address %v, want %v", s.addr, ln.Addr())
	}
	// A connection queued on the original is accepted on the duplicate.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dup, err := net.FileListener(s.file)
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	a, err := dup.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.Close()

	// Not a listening socket, or not with PolicyShared: refused.
	uc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	uf, _ := uc.File()
	defer uf.Close()
	if _, err := openShared(context.Background(), PolicyShared, Addr{File: uf}); err == nil {
		t.Error("a UDP socket was adopted")
	}
	if _, err := openShared(context.Background(), PolicyReusePort, Addr{File: f}); err == nil {
		t.Error("Addr.File under PolicyReusePort was accepted")
	}
}
