package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DumpFormat is the format version of the saved process list.
const DumpFormat = 1

// Dump is the saved process list, dump.json: every app with its spec (the
// App and the environment it was started with) and whether it was stopped.
type Dump struct {
	Format int         `json:"format"`
	Herd   string      `json:"herd"`  // the version that wrote it
	Saved  time.Time   `json:"saved"` // when
	Apps   []DumpedApp `json:"apps"`
}

// DumpedApp is one app of a Dump.
type DumpedApp struct {
	Spec
	// Stopped records an app that was stopped when saved: resurrect
	// lists it, stopped.
	Stopped bool `json:"stopped,omitempty"`
	// ListenFDs, in a handover of herd update only, are the descriptors
	// (in the new daemon) of the app's listening sockets, one per port.
	ListenFDs []int `json:"listen_fds,omitempty"`
}

// ErrEmptySave is returned by a save of an empty list without force.
var ErrEmptySave = errors.New("nothing to save: no app is in the list; saving would replace the saved list with an empty one. herd save --force does that")

// WriteDump writes d to path atomically: a temporary file in the same
// directory, synced, then renamed over path; the previous file is kept as
// path.bak (a hard link made before the rename). On any error, path is
// untouched and the temporary file removed. It returns the .bak path, or ""
// when there was no previous file.
func WriteDump(path string, d Dump) (bak string, err error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("save: %w; the previous dump is kept", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("save: writing %s: %w; the previous dump is kept", tmp, err)
	}
	if err = os.Chmod(tmp, 0o600); err != nil {
		return "", err
	}
	if _, serr := os.Stat(path); serr == nil {
		bak = path + ".bak"
		_ = os.Remove(bak + ".tmp")
		if err = os.Link(path, bak+".tmp"); err == nil {
			err = os.Rename(bak+".tmp", bak)
		}
		if err != nil {
			return "", fmt.Errorf("save: keeping the previous dump as %s: %w; the previous dump is kept", bak, err)
		}
	}
	if err = os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("save: %w; the previous dump is kept", err)
	}
	if df, derr := os.Open(dir); derr == nil {
		_ = df.Sync()
		df.Close()
	}
	return bak, nil
}

// ReadDump reads the dump at path; when it is missing or unreadable, it
// reads path.bak instead and says so in note. It fails when neither can be
// read.
func ReadDump(path string) (d Dump, note string, err error) {
	d, err = readDump(path)
	if err == nil {
		return d, "", nil
	}
	bd, berr := readDump(path + ".bak")
	if berr != nil {
		if os.IsNotExist(err) && os.IsNotExist(berr) {
			return Dump{}, "", fmt.Errorf("no saved process list at %s: herd save writes one", path)
		}
		return Dump{}, "", fmt.Errorf("%v; and the backup: %v", err, berr)
	}
	return bd, fmt.Sprintf("%v; restored from the backup %s (saved %s)", err, path+".bak", bd.Saved.Format(time.RFC3339)), nil
}

func readDump(path string) (Dump, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return Dump{}, err
		}
		return Dump{}, fmt.Errorf("%s: %w", path, err)
	}
	var d Dump
	if err := json.Unmarshal(b, &d); err != nil {
		return Dump{}, fmt.Errorf("%s is corrupt: %v", path, err)
	}
	if d.Format != DumpFormat {
		return Dump{}, fmt.Errorf("%s: format %d, this herd reads format %d", path, d.Format, DumpFormat)
	}
	for i, a := range d.Apps {
		if err := checkSpec(&a.Spec); err != nil {
			return Dump{}, fmt.Errorf("%s: app %d: %v", path, i, err)
		}
	}
	return d, nil
}
