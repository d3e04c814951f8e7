// Package sdnotify sends systemd's sd_notify messages (READY=1,
// STOPPING=1, MAINPID=N, ...) to a notify socket: the one place herd
// speaks that protocol, for cluster's primary and for the daemon.
package sdnotify

import "net"

// Send writes state to the unixgram socket at path, as sd_notify does;
// a leading '@' names an abstract socket. An empty path (no NOTIFY_SOCKET:
// not started by systemd) sends nothing and returns nil.
func Send(path, state string) error {
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
