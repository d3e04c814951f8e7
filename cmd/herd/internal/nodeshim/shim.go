// Package nodeshim holds herd's preload shim for unmodified Node apps, the
// broker that answers the shim's requests for listening sockets, and the
// relay between the two.
//
// herd run starts node with `--require <shim>` (or puts it in NODE_OPTIONS
// for a command such as npm start or a shell script that starts node). The
// shim patches net.Server.prototype.listen: a TCP listen(port[, host]) asks
// herd for a socket bound to exactly that host and port, and listens on the
// socket herd sends. herd opens each address once (cluster's on-demand
// listeners) and sends the same socket to every instance, so instances share
// the port as Node's cluster workers do, and bind only what the app asked
// for:
//
//	node (shim) --spawn, Node IPC--> relay --unix socket--> Broker (herd)
//	     <---- NODE_HANDLE + fd ----       <--- SCM_RIGHTS ----
//
// Node can receive a socket only over a Node IPC channel, and the final node
// of `npm start` has none to herd (Node marks inherited descriptors
// close-on-exec, so nothing herd opened reaches it). So the shim starts the
// relay (herd's own binary with RelayArg, named in EnvRelay) with such a
// channel; the relay asks the Broker on the unix socket named in EnvSocket
// and passes the socket on. In a node:cluster worker listen is left to Node,
// which asks the primary, whose own listen goes through the shim.
//
// The first node of an instance that has herd's IPC channel reports
// {"herd":"listening"} when a server listens, and {"herd":"ready"} as well
// when HERD_READY=listen. On SIGTERM, unless the app handles SIGTERM
// itself, the shim closes its servers so that requests in flight finish (a
// node:cluster primary also waits for its workers) and exits; a duplicate
// SIGTERM changes nothing.
package nodeshim

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed shim.js
var source []byte

// Source returns the shim's JavaScript.
func Source() []byte { return append([]byte(nil), source...) }

// FDName returns the LISTEN_FDNAMES name herd gives the socket of port
// when it opens the port before the program starts.
func FDName(port int) string { return fmt.Sprintf("port-%d", port) }

// Path writes the shim to a file named by its content hash under dir (""
// means os.UserCacheDir()/herd, else os.TempDir()/herd-<uid>) unless it is
// already there, and returns the file's path.
func Path(dir string) (string, error) {
	if dir == "" {
		if c, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(c, "herd")
		} else {
			dir = filepath.Join(os.TempDir(), fmt.Sprintf("herd-%d", os.Getuid()))
		}
	}
	sum := sha256.Sum256(source)
	p := filepath.Join(dir, "node-shim-"+hex.EncodeToString(sum[:6])+".js")
	if b, err := os.ReadFile(p); err == nil && string(b) == string(source) {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("nodeshim: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".shim-*")
	if err != nil {
		return "", fmt.Errorf("nodeshim: %w", err)
	}
	_, werr := tmp.Write(source)
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("nodeshim: write %s: %w", tmp.Name(), firstErr(werr, cerr))
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("nodeshim: %w", err)
	}
	return p, nil
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
