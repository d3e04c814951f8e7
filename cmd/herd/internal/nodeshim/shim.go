// Package nodeshim holds herd's preload shim for unmodified Node apps and
// writes it where node can load it.
//
// herd run, in cluster mode, passes each port to every instance as an
// inherited listening socket (fd 3, 4, ...) named "port-<n>" in
// LISTEN_FDNAMES. A Node app written as http.createServer(h).listen(3000)
// would bind port 3000 itself and fail; the shim, loaded with
// `node --require <file>` (or NODE_OPTIONS=--require=<file>), patches
// net.Server.prototype.listen so that listen(port), listen({port}) and
// listen(port, host, cb) use the inherited descriptor instead. It reports
// {"herd":"listening"} on the Node IPC channel when a server takes its
// socket, {"herd":"ready"} as well when HERD_READY=listen, and on SIGTERM
// closes the servers it adopted so that requests in flight finish.
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

// FDName returns the LISTEN_FDNAMES name the shim matches for port.
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
