package logsink

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RotatingFile is an append-only log file rotated by size: when a write
// would take it past MaxSize, path becomes path.1 (path.1 becomes path.2,
// and so on) and a new path is started; at most Keep old files are kept,
// and with a MaxAge, rotated files older than that are deleted. Open it
// with OpenRotating or OpenRotatingFile. A path that is not a regular file
// (/dev/null, a pipe, a terminal) is written but never rotated. It is safe
// for concurrent use.
type RotatingFile struct {
	path    string
	maxSize int64
	keep    int
	maxAge  time.Duration

	mu      sync.Mutex
	f       *os.File
	size    int64
	regular bool
}

// RotateOptions are the limits of a RotatingFile. The zero value means
// 10 MiB files, 5 rotated files kept, no age limit.
type RotateOptions struct {
	// MaxSize is the size a write may not take the file past: before such
	// a write the file is rotated. <= 0 means 10 MiB.
	MaxSize int64
	// Keep is the number of rotated files kept (path.1 ... path.Keep); 0
	// means 5, negative means none (the full file is deleted at rotation).
	Keep int
	// MaxAge, if positive, deletes rotated files last written more than
	// MaxAge ago; the check runs when the file is opened and at each
	// rotation. 0 keeps files by count only.
	MaxAge time.Duration
}

// OpenRotating opens (appending to) path. maxSize <= 0 means 10 MiB; keep
// < 0 means 0 old files; keep == 0 means 5. It is OpenRotatingFile without
// an age limit.
func OpenRotating(path string, maxSize int64, keep int) (*RotatingFile, error) {
	return OpenRotatingFile(path, RotateOptions{MaxSize: maxSize, Keep: keep})
}

// OpenRotatingFile opens (appending to, creating with mode 0644) path
// with the limits of o, and deletes the rotated files that o no longer
// keeps (beyond Keep, or older than MaxAge). An error wraps the
// *fs.PathError of the failed open.
func OpenRotatingFile(path string, o RotateOptions) (*RotatingFile, error) {
	if o.MaxSize <= 0 {
		o.MaxSize = 10 << 20
	}
	switch {
	case o.Keep == 0:
		o.Keep = 5
	case o.Keep < 0:
		o.Keep = 0
	}
	r := &RotatingFile{path: path, maxSize: o.MaxSize, keep: o.Keep, maxAge: max(o.MaxAge, 0)}
	if err := r.open(); err != nil {
		return nil, err
	}
	if r.regular {
		r.prune(r.rotated())
	}
	return r, nil
}

func (r *RotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("log file: %w", err)
	}
	r.f, r.size, r.regular = f, st.Size(), st.Mode().IsRegular()
	return nil
}

// Write appends p, rotating first if p would not fit.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, os.ErrClosed
	}
	if r.regular && r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		if err := r.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, err
}

// rotated returns the indices n of the existing files path.n, highest
// first.
func (r *RotatingFile) rotated() []int {
	ents, err := os.ReadDir(filepath.Dir(r.path))
	if err != nil {
		return nil
	}
	base := filepath.Base(r.path) + "."
	var out []int
	for _, e := range ents {
		s, ok := strings.CutPrefix(e.Name(), base)
		if !ok || s == "" || strings.TrimLeft(s, "0123456789") != "" || s[0] == '0' {
			continue
		}
		if n, err := strconv.Atoi(s); err == nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// name returns the path of rotated file n.
func (r *RotatingFile) name(n int) string { return r.path + "." + strconv.Itoa(n) }

// rotate moves path to path.1 (shifting the older files up) and opens a
// new path. Only existing files are touched, so a large Keep costs
// nothing.
func (r *RotatingFile) rotate() error {
	r.f.Close()
	r.f = nil
	old := r.rotated()
	if r.keep == 0 {
		os.Remove(r.path)
	} else {
		var left []int
		for _, n := range old { // highest first
			switch {
			case n >= r.keep:
				os.Remove(r.name(n))
			case os.Rename(r.name(n), r.name(n+1)) == nil:
				left = append(left, n+1)
			}
		}
		if os.Rename(r.path, r.name(1)) == nil {
			left = append(left, 1)
		}
		old = left
	}
	if err := r.open(); err != nil {
		return err
	}
	r.prune(old)
	return nil
}

// prune deletes the rotated files among ns that are past Keep or older
// than MaxAge.
func (r *RotatingFile) prune(ns []int) {
	cutoff := time.Now().Add(-r.maxAge)
	for _, n := range ns {
		if n > r.keep {
			os.Remove(r.name(n))
			continue
		}
		if r.maxAge > 0 {
			if st, err := os.Stat(r.name(n)); err == nil && st.ModTime().Before(cutoff) {
				os.Remove(r.name(n))
			}
		}
	}
}

// Close closes the file; later writes return os.ErrClosed.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
