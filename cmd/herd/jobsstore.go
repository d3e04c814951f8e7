package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/herdrun/herd/cmd/herd/internal/config"
	"github.com/herdrun/herd/cmd/herd/internal/demo"
	"github.com/herdrun/herd/jobs"
	"github.com/spf13/pflag"
)

// storeFlags name a jobs store on the command line, for the commands that
// open one themselves (herd jobs export, import). They find it as an app
// does with jobs.Config.WithEnv, one layer over the next: the flags, then
// herd.yaml's jobs: block (-c), then the HERD_JOBS_* environment.
type storeFlags struct {
	dir      string
	nats     string
	replicas int
	prefix   string
	config   string
}

func (s *storeFlags) add(f *pflag.FlagSet) {
	f.StringVar(&s.dir, "dir", "", "an embedded store's directory (jobs.Config.Dir, or a herd demo's --jobs-dir); default $"+jobs.EnvDir)
	f.StringVar(&s.nats, "nats", "", "NATS URLs of a cluster, comma-separated (jobs.Config.URLs); default $"+jobs.EnvNATS)
	f.IntVar(&s.replicas, "replicas", 0, "copies of every stream on a cluster, 1 to 5 (jobs.Config.Replicas); default $"+jobs.EnvReplicas)
	f.StringVar(&s.prefix, "prefix", "", "names of the streams and buckets (jobs.Config.Prefix); default $"+jobs.EnvPrefix+", else "+jobs.DefaultPrefix)
	f.StringVarP(&s.config, "config", "c", "", "read the store from this herd.yaml's jobs: block")
}

// flagOf names the flag of each variable, for errors.
var flagOf = map[string]string{jobs.EnvNATS: "--nats", jobs.EnvDir: "--dir", jobs.EnvReplicas: "--replicas", jobs.EnvPrefix: "--prefix"}

// resolve layers the environment, the -c file and the flags into a
// jobs.Config; it is a usage error when no store is named.
func (s *storeFlags) resolve(getenv env) (jobs.Config, error) {
	cfg, err := jobs.Config{}.WithEnv(getenv)
	if err != nil {
		return cfg, &usageError{err}
	}
	if s.config != "" {
		j, err := config.LoadJobs(s.config)
		if err != nil {
			return cfg, &usageError{err}
		}
		if cfg, err = cfg.WithEnv(j.Getenv); err != nil {
			return cfg, &usageError{err}
		}
	}
	if s.dir != "" && s.nats != "" {
		return cfg, &usageError{errors.New("--dir and --nats are both given: --dir for an embedded store, --nats for a cluster")}
	}
	if s.replicas < 0 || s.replicas > jobs.MaxReplicas {
		return cfg, &usageError{fmt.Errorf("--replicas %d: want 1 to %d (3 survives the loss of one node)", s.replicas, jobs.MaxReplicas)}
	}
	flags := map[string]string{jobs.EnvNATS: s.nats, jobs.EnvDir: s.dir, jobs.EnvPrefix: s.prefix}
	if s.replicas > 0 {
		flags[jobs.EnvReplicas] = strconv.Itoa(s.replicas)
	}
	cfg, err = cfg.WithEnv(func(k string) string { return flags[k] })
	if err != nil {
		var ve *jobs.ValidationError
		if errors.As(err, &ve) && flagOf[ve.Field] != "" {
			return cfg, &usageError{fmt.Errorf("%s: %s", flagOf[ve.Field], ve.Problem)}
		}
		return cfg, &usageError{err}
	}
	if cfg.Dir == "" && len(cfg.URLs) == 0 {
		return cfg, &usageError{fmt.Errorf("no jobs store: give --dir DIR (an embedded store) or --nats URLS (a cluster), -c herd.yaml with a jobs: block, or set $%s or $%s", jobs.EnvDir, jobs.EnvNATS)}
	}
	return cfg, nil
}

// openDir prepares an embedded store directory for a command that opens
// it: a herd demo's --jobs-dir holds its store in DIR/store, and is locked
// as the demo locks it, so neither runs while the other has the store.
// With mustExist, a directory that holds no store is an error (an export
// of it would be empty). The returned closer releases the demo's lock.
func openDir(dir string, mustExist bool) (string, io.Closer, error) {
	if demo.IsJobsDir(dir) {
		lock, err := demo.LockDir(dir)
		if errors.Is(err, demo.ErrJobsDirInUse) {
			return "", nil, fmt.Errorf("%s is in use by a running herd demo: stop it first (the store can have one user at a time)", dir)
		}
		if err != nil {
			return "", nil, err
		}
		return demo.StorePath(dir), lock, nil
	}
	if mustExist {
		if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
			return "", nil, fmt.Errorf("%s holds no jobs store (no jetstream folder in it): give the directory of jobs.Config.Dir, or a herd demo's --jobs-dir", dir)
		}
	}
	return dir, io.NopCloser(nil), nil
}
