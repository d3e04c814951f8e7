package nodeshim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/herdrun/herd/ipc"
	"golang.org/x/sys/unix"
)

// The environment of a program whose node processes load the shim, and the
// relay's argument.
const (
	// EnvSocket names the Broker's unix socket.
	EnvSocket = "HERD_LISTEN_SOCKET"
	// EnvRelay names the relay program: a binary that calls RelayMain when
	// its first argument is RelayArg (the herd command does).
	EnvRelay = "HERD_LISTEN_RELAY"
	// EnvStopSignal names the signal that stops an instance gracefully
	// (SIGTERM when unset): the shim drains the app's servers on it unless
	// the app handles it itself.
	EnvStopSignal = "HERD_STOP_SIGNAL"
	// RelayArg is the relay's first argument; the host and the port follow.
	RelayArg = "__herd-listen-relay"
)

// DefaultRequestTimeout bounds one exchange on the broker's socket.
const DefaultRequestTimeout = 10 * time.Second

// maxRequest is the longest request line the broker reads.
const maxRequest = 4096

// Request is a program's request for a listening TCP socket, as its
// listen() call gave it.
type Request struct {
	// Host is the address asked for: "" (no host given) means every
	// interface, as in Node.
	Host string `json:"host"`
	// Port is the port asked for; 0 means any port.
	Port int `json:"port"`
	// PID is the process that asked (the relay), from the socket's peer
	// credentials; its parent is the node process.
	PID int `json:"-"`
}

// ParseRequest decodes one request line: a JSON object with host and port.
// It returns an error naming what is wrong.
func ParseRequest(b []byte) (Request, error) {
	var r Request
	b = bytes.TrimRight(b, "\n")
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("nodeshim: bad listen request %q: %w", b, err)
	}
	if dec.More() {
		return Request{}, fmt.Errorf("nodeshim: bad listen request %q: more than one JSON value", b)
	}
	if r.Port < 0 || r.Port > 65535 {
		return Request{}, fmt.Errorf("nodeshim: bad listen request: port %d out of range 0-65535", r.Port)
	}
	if len(r.Host) > 255 {
		return Request{}, fmt.Errorf("nodeshim: bad listen request: host longer than 255 bytes")
	}
	return r, nil
}

// reply is the broker's answer, sent on to node by the relay as it is.
type reply struct {
	Herd string `json:"herd"` // "listen-ok" or "listen-err"
	Addr string `json:"addr,omitempty"`
	Msg  string `json:"msg,omitempty"`
	Code string `json:"code,omitempty"` // an errno name such as EADDRINUSE
}

// OpenFunc answers a Request with a listening socket. The broker sends a
// duplicate of it and never closes it. An error's Code method, if it has
// one, names the code node's error gets (else its errno's name).
type OpenFunc func(Request) (*os.File, error)

// Broker answers listen requests of the shim (through the relay) on a unix
// socket in a private directory. Create it with NewBroker; it serves until
// Close.
type Broker struct {
	dir, path string
	ln        *net.UnixListener
	open      OpenFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewBroker opens the broker's socket in a new directory under dir (""
// means os.TempDir()), readable by this user only, and serves requests with
// open until Close.
func NewBroker(dir string, open OpenFunc) (*Broker, error) {
	d, err := os.MkdirTemp(dir, "herd-listen-")
	if err != nil {
		return nil, fmt.Errorf("nodeshim: broker: %w", err)
	}
	p := filepath.Join(d, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
	if err != nil {
		os.RemoveAll(d)
		return nil, fmt.Errorf("nodeshim: broker: %w", err)
	}
	b := &Broker{dir: d, path: p, ln: ln, open: open}
	b.wg.Go(b.serve)
	return b, nil
}

// ReopenBroker serves again at path, the Path of a Broker of an earlier
// image of this program that nobody serves any more (herd update replaced
// the image with exec): the instances that broker's Path was given to
// reach this one. path must be the socket "s" in a directory NewBroker
// made; the stale socket file is replaced.
func ReopenBroker(path string, open OpenFunc) (*Broker, error) {
	d := filepath.Dir(path)
	if filepath.Base(path) != "s" || !strings.HasPrefix(filepath.Base(d), "herd-listen-") {
		return nil, fmt.Errorf("nodeshim: broker: %s is not a broker's socket", path)
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("nodeshim: broker: %w", err)
	}
	if err := os.MkdirAll(d, 0o700); err != nil {
		return nil, fmt.Errorf("nodeshim: broker: %w", err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("nodeshim: broker: %w", err)
	}
	b := &Broker{dir: d, path: path, ln: ln, open: open}
	b.wg.Go(b.serve)
	return b, nil
}

// Path returns the socket's path, the value of EnvSocket.
func (b *Broker) Path() string { return b.path }

// Close stops serving, waits for the exchanges in progress and removes the
// socket's directory.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.ln.Close()
		b.wg.Wait()
		os.RemoveAll(b.dir)
	})
	return nil
}

func (b *Broker) serve() {
	for {
		c, err := b.ln.AcceptUnix()
		if err != nil {
			return
		}
		b.wg.Go(func() {
			defer c.Close()
			_ = b.answer(c)
		})
	}
}

// answer reads one request from c and sends the reply, with the socket.
func (b *Broker) answer(c *net.UnixConn) error {
	_ = c.SetDeadline(time.Now().Add(DefaultRequestTimeout))
	line, err := readLine(c)
	if err != nil {
		return err
	}
	req, err := ParseRequest(line)
	if err != nil {
		return writeReply(c, reply{Herd: "listen-err", Msg: err.Error(), Code: "EINVAL"}, nil)
	}
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				req.PID = int(cred.Pid)
			}
		})
	}
	f, err := b.open(req)
	if err != nil {
		return writeReply(c, reply{Herd: "listen-err", Msg: err.Error(), Code: errCode(err)}, nil)
	}
	addr := ""
	if sa, err := sockName(f); err == nil {
		addr = sa
	}
	return writeReply(c, reply{Herd: "listen-ok", Addr: addr}, f)
}

// errCode names err's errno (EADDRINUSE, EACCES, ...), the code of an
// error with a Code method (such as the runner's refusals), or EHERDLISTEN.
func errCode(err error) string {
	var coded interface{ Code() string }
	if errors.As(err, &coded) {
		return coded.Code()
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
	}
	return "EHERDLISTEN"
}

// sockName returns the address f's socket is bound to.
func sockName(f *os.File) (string, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return "", err
	}
	var (
		sa   unix.Sockaddr
		serr error
	)
	if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return "", err
	}
	if serr != nil {
		return "", serr
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port)), nil
	}
	return "", fmt.Errorf("not a TCP socket")
}

// writeReply sends r as one JSON line, with f's descriptor attached if f is
// not nil.
func writeReply(c *net.UnixConn, r reply, f *os.File) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if f == nil {
		_, err = c.Write(b)
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var werr error
	if err := rc.Control(func(fd uintptr) {
		_, _, werr = c.WriteMsgUnix(b, unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return err
	}
	return werr
}

// readLine reads up to a newline, at most maxRequest bytes.
func readLine(r io.Reader) ([]byte, error) {
	var buf []byte
	p := make([]byte, 512)
	for len(buf) <= maxRequest {
		n, err := r.Read(p)
		buf = append(buf, p[:n]...)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			return buf[:i], nil
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("nodeshim: listen request longer than %d bytes", maxRequest)
}

// Ask sends req to the broker at path and returns its answer: the listening
// socket and the address it is bound to, or the broker's refusal as an
// error that names its errno (see ListenError).
func Ask(ctx context.Context, path string, req Request) (*os.File, string, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, "", fmt.Errorf("nodeshim: reach herd's listen socket %s=%s: %w", EnvSocket, path, err)
	}
	c := nc.(*net.UnixConn)
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return nil, "", fmt.Errorf("nodeshim: ask herd for %s: %w", net.JoinHostPort(req.Host, strconv.Itoa(req.Port)), err)
	}
	var (
		line []byte
		fds  []int
	)
	buf := make([]byte, 1024)
	oob := make([]byte, unix.CmsgSpace(4*4))
	for len(line) <= maxRequest && bytes.IndexByte(line, '\n') < 0 {
		n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
		line = append(line, buf[:max(n, 0)]...) // n is -1 with some errors
		if oobn > 0 {
			if msgs, perr := unix.ParseSocketControlMessage(oob[:oobn]); perr == nil {
				for _, m := range msgs {
					if got, perr := unix.ParseUnixRights(&m); perr == nil {
						fds = append(fds, got...)
					}
				}
			}
		}
		if err != nil && bytes.IndexByte(line, '\n') < 0 {
			closeFDs(fds)
			return nil, "", fmt.Errorf("nodeshim: herd's answer for %s: %w", net.JoinHostPort(req.Host, strconv.Itoa(req.Port)), err)
		}
	}
	i := bytes.IndexByte(line, '\n')
	var r reply
	if i < 0 || json.Unmarshal(line[:i], &r) != nil {
		closeFDs(fds)
		return nil, "", fmt.Errorf("nodeshim: bad answer from herd: %q", line)
	}
	if r.Herd != "listen-ok" || len(fds) != 1 {
		closeFDs(fds)
		if r.Msg == "" {
			r.Msg = "herd sent no socket"
		}
		return nil, "", &ListenError{Msg: r.Msg, Code: r.Code}
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "listener "+r.Addr), r.Addr, nil
}

// ListenError is the broker's refusal of a request: Msg says why, Code is
// an errno name (EADDRINUSE, EACCES) or EHERDLISTEN.
type ListenError struct {
	Msg  string
	Code string
}

// Error returns Msg.
func (e *ListenError) Error() string { return e.Msg }

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// RelayMain is the relay between a node process and the broker: run with
// the host and the port after RelayArg (args excludes both the program and
// RelayArg) as a child of node with a Node IPC channel, it asks the broker
// named by EnvSocket and passes the listening socket to node as the handle
// of a {"herd":"listen-ok","addr":...} message, or sends
// {"herd":"listen-err","msg":...,"code":...}; then it waits until node
// disconnects and returns the exit status.
func RelayMain(args []string) int {
	ch, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "herd listen relay: %v (it runs as a child of the Node shim, with an IPC channel)\n", err)
		return 2
	}
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*DefaultRequestTimeout)
	defer cancel()
	if len(args) != 2 {
		_ = ch.Send(ctx, reply{Herd: "listen-err", Msg: fmt.Sprintf("herd listen relay: want HOST PORT, got %q", args), Code: "EINVAL"})
		return 2
	}
	port, err := strconv.Atoi(args[1])
	if err != nil || port < 0 || port > 65535 {
		_ = ch.Send(ctx, reply{Herd: "listen-err", Msg: fmt.Sprintf("herd listen relay: bad port %q", args[1]), Code: "EINVAL"})
		return 2
	}
	f, addr, err := Ask(ctx, os.Getenv(EnvSocket), Request{Host: args[0], Port: port})
	if err != nil {
		r := reply{Herd: "listen-err", Msg: err.Error(), Code: "EHERDLISTEN"}
		var le *ListenError
		if errors.As(err, &le) {
			r.Code = le.Code
		}
		_ = ch.Send(ctx, r)
	} else {
		err = ch.SendHandle(ctx, reply{Herd: "listen-ok", Addr: addr}, f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "herd listen relay: %v\n", err)
			return 1
		}
	}
	// Node acknowledges the handle, then disconnects.
	for {
		if _, err := ch.Recv(ctx); err != nil {
			return 0
		}
	}
}
