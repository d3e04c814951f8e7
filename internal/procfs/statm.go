package procfs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// Statm is what /proc/<pid>/statm says of a process's memory, in pages.
type Statm struct {
	// Size is the total program size (the virtual memory size).
	Size int64
	// Resident is the resident set size.
	Resident int64
	// Shared is the resident pages backed by a file or by shared memory.
	Shared int64
}

// Private returns the resident memory that belongs to the process alone,
// in bytes: resident minus shared pages (the anonymous memory a leak
// grows).
func (s Statm) Private() int64 { return (s.Resident - s.Shared) * int64(os.Getpagesize()) }

// ParseStatm parses the contents of a statm file. It fails with an error
// wrapping ErrFormat when the first three fields are not numbers.
func ParseStatm(b []byte) (Statm, error) {
	f := bytes.Fields(b)
	if len(f) < 3 {
		return Statm{}, fmt.Errorf("%w: statm %q", ErrFormat, b)
	}
	var v [3]int64
	for i := range v {
		n, err := strconv.ParseInt(string(f[i]), 10, 64)
		if err != nil || n < 0 {
			return Statm{}, fmt.Errorf("%w: statm %q", ErrFormat, b)
		}
		v[i] = n
	}
	return Statm{Size: v[0], Resident: v[1], Shared: v[2]}, nil
}

// StatmFile is one process's statm file, kept open so that it can be
// sampled often without a path lookup. The open file names that process,
// not its pid: once the process has been reaped, Read fails instead of
// describing another process that reused the pid.
type StatmFile struct {
	f *os.File
}

// OpenStatm opens pid's statm file under fsys's root.
func (fsys FS) OpenStatm(pid int) (*StatmFile, error) {
	f, err := os.Open(fsys.pidPath(pid, "statm"))
	if err != nil {
		return nil, err
	}
	return &StatmFile{f: f}, nil
}

// OpenStatm opens pid's statm file in /proc.
func OpenStatm(pid int) (*StatmFile, error) { return Default.OpenStatm(pid) }

// Read reads and parses the file's current contents.
func (s *StatmFile) Read() (Statm, error) {
	var buf [128]byte
	n, err := s.f.ReadAt(buf[:], 0)
	if n == 0 {
		if err == nil {
			err = fmt.Errorf("%w: empty statm", ErrFormat)
		}
		return Statm{}, err
	}
	return ParseStatm(buf[:n])
}

// Close closes the file.
func (s *StatmFile) Close() error { return s.f.Close() }
