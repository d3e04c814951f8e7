package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// riverArgs is the benchmark's River job: a no-op with a counter.
type riverArgs struct {
	I int `json:"i"`
}

// Kind names the job kind for River.
func (riverArgs) Kind() string { return "noop" }

// riverWorker works riverArgs. With completeTx it records the counter as the
// job's output and completes the job in its own transaction (JobCompleteTx),
// so that the result is committed when Work returns; otherwise it does
// nothing and River's batch completer records the completion.
type riverWorker struct {
	river.WorkerDefaults[riverArgs]
	pool       *pgxpool.Pool
	completeTx bool
}

// Work runs one job.
func (w *riverWorker) Work(ctx context.Context, job *river.Job[riverArgs]) error {
	if !w.completeTx {
		return nil
	}
	if err := river.RecordOutput(ctx, map[string]int{"i": job.Args.I}); err != nil {
		return err
	}
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// riverBench is River with riverpgxv5 on a throwaway PostgreSQL 15 cluster.
type riverBench struct {
	pg     *dbServer
	pool   *pgxpool.Pool
	ins    *river.Client[pgx.Tx] // inserts only: no queues, never started
	poll   time.Duration
	copied bool // Bulk uses InsertManyFast (COPY) instead of InsertMany
}

// riverCooldown is River's fetch cooldown in every run: its minimum, 1 ms
// (the default, 100 ms, caps a producer at about 0.6k jobs/s).
const riverCooldown = river.FetchCooldownMin

func startRiver(ctx context.Context, dir string, poll time.Duration, log io.Writer) (*riverBench, error) {
	pg, conn, err := startPostgres(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	r := &riverBench{pg: pg, poll: poll}
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		r.Close()
		return nil, err
	}
	cfg.MaxConns = 32
	if r.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		r.Close()
		return nil, err
	}
	mig, err := rivermigrate.New(riverpgxv5.New(r.pool), nil)
	if err != nil {
		r.Close()
		return nil, err
	}
	if _, err := mig.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		r.Close()
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	if r.ins, err = river.NewClient(riverpgxv5.New(r.pool), &river.Config{Logger: quietLogger()}); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// client returns a River client that works the default queue with conc
// workers, at River's fastest fetch settings.
func (r *riverBench) client(conc int, completeTx bool) (*river.Client[pgx.Tx], error) {
	ws := river.NewWorkers()
	if err := river.AddWorkerSafely(ws, &riverWorker{pool: r.pool, completeTx: completeTx}); err != nil {
		return nil, err
	}
	return river.NewClient(riverpgxv5.New(r.pool), &river.Config{
		Logger:            quietLogger(),
		FetchCooldown:     riverCooldown,
		FetchPollInterval: r.poll,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: conc}},
		Workers:           ws,
	})
}

func (r *riverBench) reset(ctx context.Context) error {
	_, err := r.pool.Exec(ctx, "TRUNCATE river_job")
	return err
}

func (r *riverBench) one(ctx context.Context, n int) (float64, error) {
	defer r.reset(ctx)
	t0 := time.Now()
	for i := range n {
		if _, err := r.ins.Insert(ctx, riverArgs{I: i}, nil); err != nil {
			return 0, err
		}
	}
	return rate(n, t0), nil
}

func (r *riverBench) fill(ctx context.Context, n, batch int, copied bool) error {
	params := make([]river.InsertManyParams, 0, batch)
	for i := 0; i < n; i += batch {
		params = params[:0]
		for j := i; j < min(n, i+batch); j++ {
			params = append(params, river.InsertManyParams{Args: riverArgs{I: j}})
		}
		var err error
		if copied {
			_, err = r.ins.InsertManyFast(ctx, params)
		} else {
			_, err = r.ins.InsertMany(ctx, params)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *riverBench) bulk(ctx context.Context, n, batch int) (float64, error) {
	defer r.reset(ctx)
	t0 := time.Now()
	if err := r.fill(ctx, n, batch, r.copied); err != nil {
		return 0, err
	}
	return rate(n, t0), nil
}

func (r *riverBench) burn(ctx context.Context, n, conc, batch int) (burnResult, error) {
	defer r.reset(ctx)
	if err := r.fill(ctx, n, batch, true); err != nil {
		return burnResult{}, err
	}
	c, err := r.client(conc, false)
	if err != nil {
		return burnResult{}, err
	}
	events, cancel := c.SubscribeConfig(&river.SubscribeConfig{ChanSize: n + 1000, Kinds: []river.EventKind{river.EventKindJobCompleted}})
	defer cancel()
	pg := r.pg.cmd.Process.Pid
	meter := cpuMeter(func() time.Duration { return selfCPU() + groupCPU(pg) })
	t0, c0 := time.Now(), meter()
	if err := c.Start(ctx); err != nil {
		return burnResult{}, err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	deadline := time.After(burnTimeout)
	for done := 0; done < n; {
		select {
		case <-events:
			done++
		case <-deadline:
			return burnResult{}, fmt.Errorf("river: %d of %d jobs completed after %s", done, n, burnTimeout)
		case <-ctx.Done():
			return burnResult{}, ctx.Err()
		}
	}
	return meter.measure(n, t0, c0), nil
}

func (r *riverBench) latency(ctx context.Context, n, warm int) ([]float64, error) {
	defer r.reset(ctx)
	c, err := r.client(64, true)
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	defer c.Stop(context.WithoutCancel(ctx))
	ms := make([]float64, 0, n)
	for i := range warm + n {
		t0 := time.Now()
		res, err := c.Insert(ctx, riverArgs{I: i}, nil)
		if err != nil {
			return nil, err
		}
		deadline := time.Now().Add(latencyTimeout)
		for {
			j, err := c.JobGet(ctx, res.Job.ID)
			if err != nil {
				return nil, err
			}
			if j.State == rivertype.JobStateCompleted {
				if len(j.Output()) == 0 {
					return nil, errors.New("river: a completed job has no output")
				}
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("river: job %d still %s after %s", j.ID, j.State, latencyTimeout)
			}
			time.Sleep(riverGetInterval)
		}
		if i >= warm {
			ms = append(ms, msSince(t0))
		}
	}
	return ms, nil
}

// riverGetInterval is how often the River latency round reads the job back
// while it waits for it to complete: River has no way to wait for a job.
const riverGetInterval = time.Millisecond

func (r *riverBench) Close() error {
	if r.pool != nil {
		r.pool.Close()
	}
	if r.pg != nil {
		return r.pg.Close()
	}
	return nil
}
