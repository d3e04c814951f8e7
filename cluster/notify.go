package cluster

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
)

// sd_notify readiness for Command workers (Config.NotifySocket): each worker
// gets its own unixgram socket in a private temporary directory, named in
// NOTIFY_SOCKET, and a datagram with the line READY=1 makes it ready.

// openNotify creates w's notify socket and returns the variable to add to
// its environment.
func (c *Cluster) openNotify(w *wproc) (string, error) {
	dir, err := os.MkdirTemp("", "herd-notify-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	w.notify, w.notifyDir = conn, dir
	return "NOTIFY_SOCKET=" + path, nil
}

// closeNotify closes w's notify socket, if any, and removes its directory.
func (w *wproc) closeNotify() {
	if w.notify != nil {
		w.notify.Close()
		os.RemoveAll(w.notifyDir)
	}
}

// notifyLoop reads w's notify socket until it is closed and turns READY=1
// into readiness.
func (c *Cluster) notifyLoop(w *wproc) {
	defer c.bg.Done()
	buf := make([]byte, 4096)
	for {
		n, err := w.notify.Read(buf)
		if err != nil {
			return
		}
		for _, line := range bytes.Split(buf[:n], []byte("\n")) {
			if string(bytes.TrimSpace(line)) != "READY=1" {
				continue
			}
			select {
			case c.evs <- wevent{w: w, c: ctl{Herd: msgReady}}:
			case <-c.loopDone:
				return
			}
		}
	}
}
