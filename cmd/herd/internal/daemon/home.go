package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// HomeEnv names the environment variable that sets the daemon's state
// directory; DefaultHomeDir (under the user's home) when unset.
const HomeEnv = "HERD_HOME"

// DefaultHomeDir is the state directory, relative to the user's home
// directory, when HERD_HOME is unset.
const DefaultHomeDir = ".herd"

// Home is the daemon's state directory and the files in it. Each user has
// their own (root's is /root/.herd), so the daemons of root and of each
// user never share a socket.
type Home struct {
	Dir  string // mode 0700
	Sock string // herd.sock, mode 0600: the control socket
	Logs string // logs/: each app's rotating log files
	Dump string // dump.json: the saved process list (and dump.json.bak)
	Log  string // daemon.log: the daemon's own log
	Pid  string // herd.pid: the daemon's pid, locked while it runs
	// Handover is the list that a daemon replaced by herd update writes
	// for the next one, which starts it and removes the file.
	Handover string
}

// HomeAt returns the Home in dir.
func HomeAt(dir string) Home {
	return Home{Dir: dir, Sock: filepath.Join(dir, "herd.sock"), Logs: filepath.Join(dir, "logs"),
		Dump: filepath.Join(dir, "dump.json"), Log: filepath.Join(dir, "daemon.log"), Pid: filepath.Join(dir, "herd.pid"),
		Handover: filepath.Join(dir, "handover.json")}
}

// FindHome returns the Home named by getenv(HomeEnv), or ~/.herd.
func FindHome(getenv func(string) string) (Home, error) {
	if d := getenv(HomeEnv); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return Home{}, err
		}
		return HomeAt(abs), nil
	}
	h := getenv("HOME")
	if h == "" {
		var err error
		if h, err = os.UserHomeDir(); err != nil {
			return Home{}, fmt.Errorf("no home directory to keep herd's state in: set %s", HomeEnv)
		}
	}
	return HomeAt(filepath.Join(h, DefaultHomeDir)), nil
}

// ErrNotOwner is wrapped by the errors about a state directory or socket
// that belongs to another user.
var ErrNotOwner = errors.New("belongs to another user")

// OwnerError reports a state directory or socket that belongs to another
// user than the caller.
type OwnerError struct {
	Path string
	UID  int // the owner's
}

// Error names the path, its owner and what to do.
func (e *OwnerError) Error() string {
	return fmt.Sprintf("%s belongs to uid %d, not to you (uid %d): each user runs their own daemon; set %s to a directory of your own",
		e.Path, e.UID, os.Getuid(), HomeEnv)
}

// Unwrap returns ErrNotOwner.
func (e *OwnerError) Unwrap() error { return ErrNotOwner }

// CheckOwner returns an *OwnerError if path exists and belongs to another
// uid than this process's.
func CheckOwner(path string) error {
	st, err := os.Lstat(path)
	if err != nil {
		return nil
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) != os.Getuid() {
		return &OwnerError{Path: path, UID: int(sys.Uid)}
	}
	return nil
}

// Prepare creates the state directory (mode 0700) and its logs
// directory, and checks that both belong to this user; an existing
// directory with a wider mode is narrowed to 0700.
func (h Home) Prepare() error {
	for _, d := range []string{h.Dir, h.Logs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := CheckOwner(d); err != nil {
			return err
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}
