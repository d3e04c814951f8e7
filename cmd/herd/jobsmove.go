package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/herdrun/herd/jobs"
	"github.com/spf13/cobra"
)

const jobsMoveLong = `Move jobs between stores: an embedded store (a directory) and a NATS
cluster (URLs), either way. JetStream cannot turn a single server into a
cluster in place, so export the jobs of one store and import them into the
other:

  herd jobs export --dir data/jobs -o jobs.jsonl
  herd jobs import jobs.jsonl --nats nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222 --replicas 3

Every job moves, in any state: waiting ones (queued, scheduled), ones cut
short while running (queued again), and ended ones with their results and
errors (failed and cancelled jobs can be retried there); so do the kinds
workers registered and the unique keys that live. Jobs keep their IDs, and
importing a file twice stores nothing twice. Stop the workers and
submitters of the store first: export reads it as it is.

The store comes from --dir or --nats, else the jobs: block of -c herd.yaml,
else $HERD_JOBS_DIR or $HERD_JOBS_NATS (what jobs.Config.WithEnv reads in
an app). --dir also takes a herd demo's --jobs-dir.

The file is JSON lines: a header {"herd_jobs":1,...}, one line per kind,
unique key and job, and an end line with the counts (see go doc
github.com/herdrun/herd/jobs Client.Export).`

// openStore opens the store cfg names, bounded by a minute.
func openStore(ctx context.Context, cfg jobs.Config, stderr io.Writer, mustExist bool) (*jobs.Client, func(), error) {
	release := func() {}
	if cfg.Dir != "" {
		dir, lock, err := openDir(cfg.Dir, mustExist)
		if err != nil {
			return nil, nil, err
		}
		cfg.Dir, release = dir, func() { lock.Close() }
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := jobs.Open(octx, cfg)
	if err != nil {
		release()
		where := cfg.Dir
		if where == "" {
			where = strings.Join(cfg.URLs, ",")
		}
		return nil, nil, fmt.Errorf("open the jobs store at %s: %w", where, err)
	}
	return c, func() { c.Close(); release() }, nil
}

// byState says how many jobs of each state a MoveStats counted: "3 queued, 9 succeeded".
func byState(st jobs.MoveStats) string {
	var states []string
	for _, s := range []jobs.State{jobs.StateQueued, jobs.StateScheduled, jobs.StateRunning, jobs.StateRetrying, jobs.StateSucceeded, jobs.StateFailed, jobs.StateCancelled} {
		if n := st.ByState[s]; n > 0 {
			states = append(states, fmt.Sprintf("%d %s", n, s))
		}
	}
	if len(states) == 0 {
		return "none"
	}
	return strings.Join(states, ", ")
}

func newJobsExportCmd(f *jobsFlags, getenv env) *cobra.Command {
	var (
		sf  storeFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every job of a store (embedded or cluster) to a file, to import into another",
		Long:  jobsMoveLong,
		Example: `  herd jobs export --dir data/jobs -o jobs.jsonl
  herd jobs export --nats nats://127.0.0.1:4222 > jobs.jsonl`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = runE(func(cmd *cobra.Command, _ []string) error {
		cfg, err := sf.resolve(getenv)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		c, closeStore, err := openStore(ctx, cfg, cmd.ErrOrStderr(), true)
		if err != nil {
			return err
		}
		defer closeStore()
		var w io.Writer = cmd.OutOrStdout()
		var tmp *os.File
		if out != "" && out != "-" {
			// The file appears whole or not at all.
			if tmp, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*"); err != nil {
				return err
			}
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			w = tmp
		}
		st, err := c.Export(ctx, w)
		if err != nil {
			return err
		}
		if tmp != nil {
			if err := tmp.Sync(); err != nil {
				return err
			}
			if err := tmp.Close(); err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), out); err != nil {
				return err
			}
		}
		to := out
		if to == "" || to == "-" {
			to = "stdout"
		}
		if f.json {
			// On stdout unless the file is there.
			if to == "stdout" {
				return printJSON(cmd.ErrOrStderr(), st)
			}
			return printJSON(cmd.OutOrStdout(), st)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "exported %d jobs (%s), %d kinds, %d unique keys to %s\n", st.Jobs, byState(st), st.Kinds, st.UniqueKeys, to)
		return nil
	})
	sf.add(cmd.Flags())
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to this file (whole or not at all) instead of stdout")
	return cmd
}

func newJobsImportCmd(f *jobsFlags, getenv env) *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Read a file of herd jobs export into a store (embedded or cluster); twice stores nothing twice",
		Long:  jobsMoveLong,
		Example: `  herd jobs import jobs.jsonl --nats nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222 --replicas 3
  herd jobs export --dir old | herd jobs import - -c herd.yaml`,
		Args: cobra.ExactArgs(1),
	}
	cmd.RunE = runE(func(cmd *cobra.Command, args []string) error {
		cfg, err := sf.resolve(getenv)
		if err != nil {
			return err
		}
		var in io.Reader = cmd.InOrStdin()
		if args[0] != "-" {
			file, err := os.Open(args[0])
			if err != nil {
				return &usageError{err}
			}
			defer file.Close()
			in = file
		}
		ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		c, closeStore, err := openStore(ctx, cfg, cmd.ErrOrStderr(), false)
		if err != nil {
			return err
		}
		defer closeStore()
		st, err := c.Import(ctx, in, jobs.ImportOptions{})
		if f.json {
			if perr := printJSON(cmd.OutOrStdout(), st); perr != nil && err == nil {
				err = perr
			}
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d jobs, %d kinds, %d unique keys; %d jobs were there already (jobs read: %s)\n",
				st.Jobs, st.Kinds, st.UniqueKeys, st.Skipped, byState(st))
		}
		if err != nil {
			name := args[0]
			if name == "-" {
				name = "stdin"
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	sf.add(cmd.Flags())
	return cmd
}
