package runner

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"

	"github.com/herdrun/herd/cmd/herd/internal/nodeshim"
)

// HostError is herd's refusal of a listen request that would bind a wider
// address than the app asked for, or another one than herd was told to
// use. herd never widens an app's exposure: an app that asks for 127.0.0.1
// is never given a socket open on every interface.
type HostError struct {
	Asked string // host:port as the app gave it to listen
	Have  string // the address herd opened, or must open, the port on
	// Preopened: herd opened the port on every interface before the
	// program started (its command is not node, so herd could not ask, or
	// the host given is 0.0.0.0 or ::).
	Preopened bool
}

// Error says what the app asked for, what herd has, and what to change.
func (e *HostError) Error() string {
	host, port, _ := net.SplitHostPort(e.Asked)
	if e.Preopened {
		return fmt.Sprintf("the app asks to listen on %s, but herd opened port %s on every interface before the app started "+
			"(-p %s with no host or an unspecified one, for a command that is not node itself); herd does not widen what an app asked for: "+
			"run herd with -p %s (or --host %s)", e.Asked, port, port, net.JoinHostPort(host, port), host)
	}
	return fmt.Sprintf("the app asks to listen on %s, but herd is told to bind port %s to %s (--host, -p HOST:PORT or the config's host): "+
		"give the app's host there, or let the app listen without a host", e.Asked, port, e.Have)
}

// Code returns EACCES, the code of the error the app's listen gets.
func (e *HostError) Code() string { return "EACCES" }

// wildcard reports whether host means every interface: "" (listen(port) in
// Node), 0.0.0.0 or ::.
func wildcard(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// sameHost reports whether a and b name the same address.
func sameHost(a, b string) bool {
	if a == b {
		return true
	}
	ia, ib := net.ParseIP(a), net.ParseIP(b)
	return ia != nil && ib != nil && ia.Equal(ib)
}

// bindAddress returns the address to open for a shim's request (host as the
// app gave it, and port). A port herd opened before the start (a program
// other than node, a given host, or sockets handed over by herd update)
// serves a request for every interface, or for the address it is bound to;
// another port is opened on the app's own host, or on App.Host when the app
// asks for every interface and must otherwise equal it. Anything else is a
// *HostError.
func (r *Runner) bindAddress(host string, port int) (string, error) {
	asked := net.JoinHostPort(host, strconv.Itoa(port))
	if r.preopen && slices.Contains(r.app.Ports, port) {
		have := r.boundHost(port)
		switch {
		case have == "" && wildcard(host):
			return net.JoinHostPort("", strconv.Itoa(port)), nil
		case have == "":
			return "", &HostError{Asked: asked, Have: "*", Preopened: true}
		case wildcard(host) || sameHost(host, have):
			return net.JoinHostPort(have, strconv.Itoa(port)), nil
		}
		return "", &HostError{Asked: asked, Have: have}
	}
	if r.app.Host != "" {
		if wildcard(host) || sameHost(host, r.app.Host) {
			return net.JoinHostPort(r.app.Host, strconv.Itoa(port)), nil
		}
		return "", &HostError{Asked: asked, Have: r.app.Host}
	}
	return asked, nil
}

// boundHost returns the address a port opened before the start is bound
// to, "" for every interface: as the cluster bound it, or else App.Host.
func (r *Runner) boundHost(port int) string {
	have := r.app.Host
	if r.c != nil {
		for _, a := range r.c.Addrs() {
			if ta, ok := a.(*net.TCPAddr); ok && ta.Port == port {
				have = ta.IP.String()
				if ta.IP == nil || ta.IP.IsUnspecified() {
					have = ""
				}
				break
			}
		}
	}
	if wildcard(have) {
		return ""
	}
	return have
}

// openListener answers the shim's listen request with the cluster's shared
// socket for the address bindAddress picks, opening it on first request.
func (r *Runner) openListener(req nodeshim.Request) (*os.File, error) {
	addr, err := r.bindAddress(req.Host, req.Port)
	if err != nil {
		r.log.Warn("refused a listen request: "+err.Error(), "pid", req.PID)
		return nil, err
	}
	return r.c.Listener("tcp", addr)
}
