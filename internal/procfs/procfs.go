package procfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DefaultRoot is where the proc file system is mounted.
const DefaultRoot = "/proc"

// MaxTree bounds how many processes Tree returns, so that a fork bomb
// cannot make it run for ever.
const MaxTree = 4096

// ErrNoChildrenFile is returned by FS.Children when the process exists but
// none of its threads has a children file: the kernel was built without
// CONFIG_PROC_CHILDREN, so no list of children can be trusted.
var ErrNoChildrenFile = errors.New("procfs: the kernel lists no children (CONFIG_PROC_CHILDREN)")

// FS is a proc file system mounted at Root. The zero value reads /proc.
// An FS holds no open files; it is safe for concurrent use.
type FS struct {
	// Root is the directory where proc is mounted. "" means DefaultRoot.
	Root string
}

// Default is the FS that the package-level functions read.
var Default = FS{}

// Path returns the path of name (such as "net/tcp") under fsys's root, or
// of the root itself when name is empty.
func (fsys FS) Path(name string) string {
	root := fsys.Root
	if root == "" {
		root = DefaultRoot
	}
	if name == "" {
		return root
	}
	return root + "/" + name
}

// pidPath returns the path of name in pid's directory.
func (fsys FS) pidPath(pid int, name string) string {
	p := fsys.Path(strconv.Itoa(pid))
	if name != "" {
		p += "/" + name
	}
	return p
}

// ReadFile returns the contents of name (such as "net/tcp") under fsys's
// root.
func (fsys FS) ReadFile(name string) ([]byte, error) {
	return readFile(fsys.Path(name))
}

// ReadPidFile returns the contents of the file name (such as "cmdline" or
// "task/42/syscall") in pid's directory.
func (fsys FS) ReadPidFile(pid int, name string) ([]byte, error) {
	return readFile(fsys.pidPath(pid, name))
}

// readFile returns the contents of the file at path, read with plain
// system calls: open, read until it returns 0, close. os.ReadFile spends
// two more on each file, an fstat for a size that proc files do not have
// and an attempt to add the file to the poller, which proc files refuse;
// a /proc reader reads many small files. Errors are *fs.PathError, as
// os's are (a process that is gone: errors.Is(err, fs.ErrNotExist)).
func readFile(path string) ([]byte, error) {
	var fd int
	var err error
	for {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		case n == 0:
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// Stat reads and parses /proc/<pid>/stat.
func (fsys FS) Stat(pid int) (Stat, error) {
	b, err := fsys.ReadPidFile(pid, "stat")
	if err != nil {
		return Stat{}, err
	}
	s, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("%s: %w", fsys.pidPath(pid, "stat"), err)
	}
	return s, nil
}

// State returns the one-letter state of pid from its stat file ('R', 'S',
// 'Z' for a zombie, ...), or 0 when the process is gone or the file cannot
// be parsed.
func (fsys FS) State(pid int) byte {
	s, err := fsys.Stat(pid)
	if err != nil {
		return 0
	}
	return s.State
}

// Status reads and parses /proc/<pid>/status.
func (fsys FS) Status(pid int) (Status, error) {
	b, err := fsys.ReadPidFile(pid, "status")
	if err != nil {
		return Status{}, err
	}
	return ParseStatus(b), nil
}

// Tasks returns the thread ids of pid, read from /proc/<pid>/task, in
// directory order. It fails when the process is gone.
func (fsys FS) Tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(fsys.pidPath(pid, "task"))
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Children returns the pids of pid's child processes, read from the
// children file of each of its threads (Linux 3.5 and later); the children
// of a thread that exits while they are read are skipped. Zombies are
// included. It fails with an error wrapping fs.ErrNotExist when the process
// is gone, and with ErrNoChildrenFile when it exists but no thread has a
// children file.
func (fsys FS) Children(pid int) ([]int, error) {
	tids, err := fsys.Tasks(pid)
	if err != nil {
		return nil, err
	}
	var out []int
	read := false
	for _, tid := range tids {
		b, err := fsys.ReadPidFile(pid, "task/"+strconv.Itoa(tid)+"/children")
		if err != nil {
			continue // the thread just exited; its children moved to another
		}
		read = true
		out = append(out, ParsePids(b)...)
	}
	if !read {
		if _, err := os.Stat(fsys.pidPath(pid, "")); err != nil {
			return nil, err
		}
		// A thread that is still there but has no children file means
		// the kernel does not write them.
		for _, tid := range tids {
			task := fsys.pidPath(pid, "task/"+strconv.Itoa(tid))
			if _, err := os.Stat(task); err != nil {
				continue
			}
			if _, err := os.Stat(task + "/children"); errors.Is(err, fs.ErrNotExist) {
				return nil, ErrNoChildrenFile
			}
		}
	}
	return out, nil
}

// ThreadChildren returns the pids of the child processes of one thread,
// tid, of process pid, read from that thread's children file: the
// processes the thread forked and, for the thread-group leader (tid ==
// pid), the processes re-parented to pid when their parent died (the
// kernel hands an orphan to the first live thread of its new parent, the
// leader while it lives). It fails like Children.
func (fsys FS) ThreadChildren(pid, tid int) ([]int, error) {
	b, err := fsys.ReadPidFile(pid, "task/"+strconv.Itoa(tid)+"/children")
	if err != nil {
		return nil, err
	}
	return ParsePids(b), nil
}

// ChildrenOf returns the pids of the child processes of the process whose
// stat is st. A process of one thread has one children file, read
// directly; the children of a process of more threads are read as
// Children reads them. A thread started after st was read is not seen
// until the next call.
func (fsys FS) ChildrenOf(st Stat) ([]int, error) {
	if st.Threads == 1 {
		return fsys.ThreadChildren(st.PID, st.PID)
	}
	return fsys.Children(st.PID)
}

// Tree returns pid followed by all its descendants, parents before their
// children, at most MaxTree processes. It returns just pid when pid has no
// children or is gone.
func (fsys FS) Tree(pid int) []int {
	out := []int{pid}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(out) && len(out) < MaxTree; i++ {
		kids, _ := fsys.Children(out[i])
		for _, c := range kids {
			if !seen[c] && len(out) < MaxTree {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// FD is one open file descriptor of a process.
type FD struct {
	// Num is the descriptor number.
	Num int
	// Target is what the descriptor refers to, the target of its link in
	// /proc/<pid>/fd: a path, "socket:[1234]", "pipe:[5678]",
	// "anon_inode:[eventpoll]", ... It is "" when the link could not be
	// read (the descriptor was closed in the meantime).
	Target string
}

// SocketInode returns the inode of the socket fd refers to, and false when
// it is not a socket.
func (fd FD) SocketInode() (uint64, bool) {
	v, ok := strings.CutPrefix(fd.Target, "socket:[")
	if !ok {
		return 0, false
	}
	v, ok = strings.CutSuffix(v, "]")
	if !ok {
		return 0, false
	}
	ino, err := strconv.ParseUint(v, 10, 64)
	return ino, err == nil
}

// IsEpoll reports whether fd is an epoll instance.
func (fd FD) IsEpoll() bool { return fd.Target == "anon_inode:[eventpoll]" }

// FDs returns the open file descriptors of pid, from /proc/<pid>/fd, in
// directory order. Every entry of the directory is returned, the one
// that read it included when pid is this process. Reading another
// process's descriptors needs the right to ptrace it.
func (fsys FS) FDs(pid int) ([]FD, error) {
	dir := fsys.pidPath(pid, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]FD, 0, len(ents))
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out = append(out, FD{Num: n, Target: target})
	}
	return out, nil
}

// FDInfo returns the contents of /proc/<pid>/fdinfo/<fd>.
func (fsys FS) FDInfo(pid, fd int) ([]byte, error) {
	return fsys.ReadPidFile(pid, "fdinfo/"+strconv.Itoa(fd))
}

// TaskSyscall returns the contents of /proc/<pid>/task/<tid>/syscall: the
// system call thread tid is blocked in and its arguments, "running", or
// "-1 sp pc". Reading it needs the right to ptrace the process.
func (fsys FS) TaskSyscall(pid, tid int) ([]byte, error) {
	return fsys.ReadPidFile(pid, "task/"+strconv.Itoa(tid)+"/syscall")
}

// ReadStat is Default.Stat.
func ReadStat(pid int) (Stat, error) { return Default.Stat(pid) }

// State is Default.State.
func State(pid int) byte { return Default.State(pid) }

// ReadStatus is Default.Status.
func ReadStatus(pid int) (Status, error) { return Default.Status(pid) }

// Tasks is Default.Tasks.
func Tasks(pid int) ([]int, error) { return Default.Tasks(pid) }

// Children is Default.Children.
func Children(pid int) ([]int, error) { return Default.Children(pid) }

// ThreadChildren is Default.ThreadChildren.
func ThreadChildren(pid, tid int) ([]int, error) { return Default.ThreadChildren(pid, tid) }

// ChildrenOf is Default.ChildrenOf.
func ChildrenOf(st Stat) ([]int, error) { return Default.ChildrenOf(st) }

// Tree is Default.Tree.
func Tree(pid int) []int { return Default.Tree(pid) }

// FDs is Default.FDs.
func FDs(pid int) ([]FD, error) { return Default.FDs(pid) }
