package ipc

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// dupHandle returns a close-on-exec duplicate of the descriptor h holds and
// the handle type to announce it as.
func dupHandle(h any) (int, byte, error) {
	var htype byte
	switch h.(type) {
	case *os.File:
		htype = handleFile
	case net.Listener:
		htype = handleListen
	case net.PacketConn:
		htype = handlePacket
	case net.Conn:
		htype = handleConn
	default:
		return -1, 0, fmt.Errorf("%w: %T", ErrHandleType, h)
	}
	sc, ok := h.(syscall.Conn)
	if !ok {
		return -1, 0, fmt.Errorf("%w: %T has no file descriptor", ErrHandleType, h)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, 0, fmt.Errorf("ipc: handle %T: %w", h, err)
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, 0, fmt.Errorf("ipc: handle %T: %w", h, err)
	}
	if derr != nil {
		return -1, 0, fmt.Errorf("ipc: duplicate handle %T: %w", h, derr)
	}
	return fd, htype, nil
}

// nodeHandleType names a handle the way Node's NODE_HANDLE message does,
// and for a UDP socket also returns the dgramType Node sends with it ("udp4"
// or "udp6"), so that a Node receiver gets a dgram.Socket. Node can only
// take sockets.
func nodeHandleType(fd int, htype byte) (typ, dgramType string, err error) {
	switch htype {
	case handleListen:
		return "net.Server", "", nil
	case handleConn:
		return "net.Socket", "", nil
	case handlePacket:
		switch dom, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); dom {
		case unix.AF_INET:
			return "dgram.Socket", "udp4", nil
		case unix.AF_INET6:
			return "dgram.Socket", "udp6", nil
		}
		// Not UDP (a unixgram socket, say): Node's dgram.Socket cannot
		// take it, so it goes as the raw handle.
		return "dgram.Native", "", nil
	}
	if _, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return "", "", fmt.Errorf("%w: a Node peer accepts only sockets, not other files", ErrHandleType)
	}
	return "net.Native", "", nil
}

// nodeTypeToHandle maps the type of Node's NODE_HANDLE message to a handle
// type; net.Native and unknown names are resolved from the descriptor.
func nodeTypeToHandle(t string) byte {
	switch t {
	case "net.Server":
		return handleListen
	case "net.Socket":
		return handleConn
	case "dgram.Socket", "dgram.Native":
		return handlePacket
	}
	return handleNone
}

// handleFromFD wraps a received descriptor as the Go type it was sent as.
// When the descriptor is not what its type says, or the type is unknown,
// it is resolved from the descriptor itself, falling back to *os.File so
// that nothing is lost.
func handleFromFD(fd int, htype byte) any {
	if htype == handleNone {
		htype = sniffHandle(fd)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("ipc-handle-%d", fd))
	var (
		h   any
		err error
	)
	switch htype {
	case handleListen:
		h, err = net.FileListener(f)
	case handleConn:
		h, err = net.FileConn(f)
	case handlePacket:
		h, err = net.FilePacketConn(f)
	default:
		return f
	}
	if err != nil {
		return f
	}
	f.Close()
	return h
}

// sniffHandle classifies a descriptor: listening socket, other socket, or
// plain file.
func sniffHandle(fd int) byte {
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return handleFile
	}
	if acc, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err == nil && acc == 1 {
		return handleListen
	}
	if typ == unix.SOCK_DGRAM {
		return handlePacket
	}
	return handleConn
}

func closeHandle(h any) {
	if c, ok := h.(io.Closer); ok {
		c.Close()
	}
}
