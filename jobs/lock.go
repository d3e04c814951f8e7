package jobs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrStoreInUse is matched (errors.Is) by the error of Open when another
// process runs an embedded server on the same Config.Dir.
var ErrStoreInUse = errors.New("jobs: store in use by another process")

// lockName is the file in Config.Dir that Open holds locked (flock) while
// its embedded server runs: nats-server itself takes no lock, and two
// servers on one store directory would corrupt it.
const lockName = "herd-jobs.lock"

// lockStore creates dir if it is missing and locks it for this process,
// writing the pid into the lock file.
func lockStore(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: store directory: %w", err)
	}
	p := filepath.Join(dir, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobs: store lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(p); rerr == nil && strings.TrimSpace(string(b)) != "" {
			holder = " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s%s runs its embedded server; stop it first, or connect to it by URL (its Config.Listen)", ErrStoreInUse, dir, holder)
		}
		return nil, fmt.Errorf("jobs: lock %s: %w", p, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
