package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
	"github.com/spf13/cobra"
)

const jobsLong = `Submit durable jobs and follow them, through the jobs HTTP API that
"herd demo" serves (or any server that mounts jobs/jobshttp).

  herd jobs submit resize '{"width":64}'   # prints the new job's ID
  herd jobs wait <id>                      # waits until it ends
  herd jobs wait <id> --follow             # ... printing each change as it happens
  herd jobs get <id>                       # its state, progress, result
  herd jobs ls --state running             # a page of jobs
  herd jobs cancel <id> / retry <id>
  herd jobs stats                          # queue depths, counts, rates
  herd jobs export --dir DIR -o FILE       # move a store's jobs (these three open
  herd jobs import FILE --nats URLS        #   the store itself, not the API)
  herd jobs worker --kind K -- CMD ARGS    # run the jobs of kind K with any program

The API is at --url, else $HERD_JOBS_URL, else http://127.0.0.1:3000 (the
demo's default). --json prints the API's JSON instead of a table.

Exit status: 0 ok; 1 the request failed (no such job, the job failed or was
cancelled for wait, the server unreachable); 2 bad command line or a request
the server refused as bad input.`

// jobsFlags are the flags every jobs subcommand shares.
type jobsFlags struct {
	url     string
	json    bool
	timeout time.Duration // of the whole command; 0 = none
	follow  bool          // print each change while waiting
}

func newJobsCmd(getenv env) *cobra.Command {
	var f jobsFlags
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "Submit, follow, cancel and retry durable jobs over the jobs HTTP API",
		Long:  jobsLong,
		Args:  cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", "", "the jobs API's URL (default $"+jobsclient.EnvURL+", else "+jobsclient.DefaultURL+")")
	pf.BoolVar(&f.json, "json", false, "print the API's JSON")
	client := func() *jobsclient.Client {
		u := f.url
		if u == "" {
			u = getenv(jobsclient.EnvURL)
		}
		return &jobsclient.Client{URL: u, HTTP: &http.Client{}}
	}
	cmd.AddCommand(
		newJobsSubmitCmd(&f, client),
		newJobsIDCmd(&f, client, "get", "Print a job: state, attempt, progress, result or error, times",
			(*jobsclient.Client).Get, printInfo),
		newJobsWaitCmd(&f, client),
		newJobsLsCmd(&f, client),
		newJobsIDCmd(&f, client, "cancel", "Cancel a job: a queued one never runs, a running one has its context cancelled",
			(*jobsclient.Client).Cancel, printState),
		newJobsIDCmd(&f, client, "retry", "Queue a failed or cancelled job again", (*jobsclient.Client).Retry, printState),
		newJobsStatsCmd(&f, client),
		newJobsWorkerCmd(getenv),
		newJobsNodeCmd(),
		newJobsDevClusterCmd(),
		newJobsExportCmd(&f, getenv),
		newJobsImportCmd(&f, getenv),
	)
	return cmd
}

// jobsRunE is runE for the jobs commands: an answer 400 from the server is
// a usage error (exit 2), named by its flag; others fail (exit 1).
func jobsRunE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return runE(func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ae *jobsclient.APIError
		switch {
		case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
			return &usageError{errors.New(flagMessage(cmd, ae))}
		case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
			msg, _, _ := strings.Cut(ae.Message, "; retry after")
			return fmt.Errorf("%s; try again in %v", msg, max(ae.RetryAfter, time.Second))
		}
		return err
	})
}

// flagMessage turns "run_at: ..." into "--run-at: ..." when the command has
// that flag.
func flagMessage(cmd *cobra.Command, ae *jobsclient.APIError) string {
	if ae.Field == "" {
		return ae.Message
	}
	flag := strings.ReplaceAll(ae.Field, "_", "-")
	if cmd.Flags().Lookup(flag) == nil {
		return ae.Message
	}
	if rest, ok := strings.CutPrefix(ae.Message, ae.Field+":"); ok {
		return "--" + flag + ":" + rest
	}
	return ae.Message
}

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func newJobsSubmitCmd(f *jobsFlags, client func() *jobsclient.Client) *cobra.Command {
	var (
		req  jobshttp.SubmitRequest
		wait bool
	)
	cmd := &cobra.Command{
		Use:   "submit KIND [ARGS]",
		Short: "Submit a job and print its ID (ARGS is JSON, such as '{\"width\":64}')",
		Example: `  herd jobs submit resize
  herd jobs submit resize '{"width":320,"height":200}' --priority high
  herd jobs submit resize --delay 90s --wait`,
		Args: cobra.RangeArgs(1, 2),
	}
	cmd.RunE = jobsRunE(func(cmd *cobra.Command, args []string) error {
		req.Kind = args[0]
		if len(args) == 2 {
			if !json.Valid([]byte(args[1])) {
				return &usageError{fmt.Errorf("ARGS %q is not JSON; write an object such as '{\"width\":64}' (quoted for the shell)", args[1])}
			}
			req.Args = json.RawMessage(args[1])
		}
		c := client()
		id, err := c.Submit(cmd.Context(), req)
		if err != nil {
			return err
		}
		if wait {
			return waitAndPrint(cmd, f, c, id)
		}
		if f.json {
			return printJSON(cmd.OutOrStdout(), jobshttp.SubmitResponse{ID: id})
		}
		fmt.Fprintln(cmd.OutOrStdout(), id)
		return nil
	})
	fl := cmd.Flags()
	fl.StringVar(&req.Queue, "queue", "", "queue (default \"default\")")
	fl.StringVar(&req.Priority, "priority", "", "low, normal, high or critical")
	fl.StringVar(&req.Delay, "delay", "", "run no earlier than this from now, such as 90s or 5m")
	fl.StringVar(&req.RunAt, "run-at", "", "run no earlier than this RFC 3339 time")
	fl.IntVar(&req.MaxAttempts, "max-attempts", 0, "attempts at most (default 3)")
	fl.StringVar(&req.Timeout, "timeout", "", "how long one attempt may run, such as 5m")
	fl.StringVar(&req.UniqueKey, "unique-key", "", "a second submit with this key returns the first job's ID")
	fl.BoolVar(&wait, "wait", false, "wait for the job to end and print it")
	fl.BoolVarP(&f.follow, "follow", "f", false, "with --wait: print each change of state and progress as it happens")
	return cmd
}

func newJobsWaitCmd(f *jobsFlags, client func() *jobsclient.Client) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait for a job to end and print it; exit 1 unless it succeeded",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = jobsRunE(func(cmd *cobra.Command, args []string) error {
		return waitAndPrint(cmd, f, client(), args[0])
	})
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "give up after this long (exit 1); 0 waits as long as it takes")
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "print each change of state and progress as it happens (with --json: one JSON line each)")
	return cmd
}

// waitAndPrint waits for the job, prints it, and fails unless it
// succeeded.
func waitAndPrint(cmd *cobra.Command, f *jobsFlags, c *jobsclient.Client, id string) error {
	ctx := cmd.Context()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	var (
		info jobs.Info
		err  error
	)
	if f.follow {
		info, err = follow(ctx, cmd.OutOrStdout(), f, c, id)
		if err == nil && f.json {
			return endState(id, info) // every change, the last included, is printed
		}
	} else {
		info, err = c.Wait(ctx, id)
	}
	if errors.Is(err, context.DeadlineExceeded) && cmd.Context().Err() == nil {
		if info, err = c.Get(cmd.Context(), id); err == nil {
			printInfo(cmd.OutOrStdout(), f, info)
		}
		return fmt.Errorf("job %s is still %s after --timeout %v; wait again, or cancel it with `herd jobs cancel %s`", id, info.State, f.timeout, id)
	}
	if err != nil {
		return notFound(err, id)
	}
	if err := printInfo(cmd.OutOrStdout(), f, info); err != nil {
		return err
	}
	return endState(id, info)
}

// endState fails unless the job succeeded.
func endState(id string, info jobs.Info) error {
	switch info.State {
	case jobs.StateFailed:
		return fmt.Errorf("job %s failed after %d attempts: %s", id, info.Attempt, firstLine(info.Error))
	case jobs.StateCancelled:
		return fmt.Errorf("job %s was cancelled; run it again with `herd jobs retry %s`", id, id)
	}
	return nil
}

// follow prints the job's event stream, one line per event, until the job
// ends, and returns its final Info.
func follow(ctx context.Context, w io.Writer, f *jobsFlags, c *jobsclient.Client, id string) (jobs.Info, error) {
	var last string
	return c.Events(ctx, id, func(ev jobsclient.Event) error {
		if f.json {
			b, err := json.Marshal(ev.Info)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(w, "%s\n", b)
			return err
		}
		j := ev.Info
		line := time.Now().Format(time.TimeOnly) + "  " + string(j.State)
		if j.State == jobs.StateRunning || ev.Name == jobshttp.EventProgress {
			line += "  " + percent(j.Progress)
			if j.Note != "" {
				line += " " + j.Note
			}
		}
		if j.MaxAttempts > 0 && j.Attempt > 0 {
			line += fmt.Sprintf("  (attempt %d of %d)", j.Attempt, j.MaxAttempts)
		}
		if j.Error != "" && (j.State == jobs.StateFailed || j.State == jobs.StateRetrying) {
			line += "  " + firstLine(j.Error)
		}
		rest := line[len(time.TimeOnly):]
		if rest == last {
			return nil // a change the line does not show (the start and worker of a running attempt)
		}
		last = rest
		_, err := fmt.Fprintln(w, line)
		return err
	})
}

// notFound rewrites a 404 as a line that names the ID and what to do.
func notFound(err error, id string) error {
	var ae *jobsclient.APIError
	if errors.As(err, &ae) && ae.NotFound() {
		return fmt.Errorf("no job %s on this server; `herd jobs ls` lists the jobs", id)
	}
	return err
}

// newJobsIDCmd returns the command `herd jobs NAME ID`: it applies op to
// the job ID (a 404 names the ID) and prints the job op returns with show.
func newJobsIDCmd(f *jobsFlags, client func() *jobsclient.Client, name, short string,
	op func(*jobsclient.Client, context.Context, string) (jobs.Info, error),
	show func(io.Writer, *jobsFlags, jobs.Info) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   name + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = jobsRunE(func(cmd *cobra.Command, args []string) error {
		info, err := op(client(), cmd.Context(), args[0])
		if err != nil {
			return notFound(err, args[0])
		}
		return show(cmd.OutOrStdout(), f, info)
	})
	return cmd
}

// printState prints a job's ID and state on one line, or the job as JSON.
func printState(w io.Writer, f *jobsFlags, j jobs.Info) error {
	if f.json {
		return printJSON(w, j)
	}
	fmt.Fprintf(w, "%s %s\n", j.ID, j.State)
	return nil
}

func newJobsLsCmd(f *jobsFlags, client func() *jobsclient.Client) *cobra.Command {
	var (
		flt   jobs.Filter
		state string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List jobs, oldest first (or newest first), a page at a time",
		Example: `  herd jobs ls
  herd jobs ls --newest --limit 10
  herd jobs ls --state failed --queue default --limit 20
  herd jobs ls --cursor <the cursor printed under the last page>`,
		Args: cobra.NoArgs,
	}
	cmd.RunE = jobsRunE(func(cmd *cobra.Command, _ []string) error {
		flt.State = jobs.State(state)
		page, err := client().List(cmd.Context(), flt)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if f.json {
			return printJSON(out, page)
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tATTEMPT\tPROGRESS\tCREATED")
		for _, j := range page.Jobs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, j.Queue, j.State, j.Attempt, j.MaxAttempts,
				percent(j.Progress), j.Created.Local().Format(time.DateTime))
		}
		tw.Flush()
		if len(page.Jobs) == 0 {
			fmt.Fprintln(out, "(no jobs)")
		}
		if page.Next != "" {
			more := ""
			if flt.Newest {
				more = " --newest"
			}
			fmt.Fprintf(out, "more: herd jobs ls%s --cursor %s\n", more, page.Next)
		}
		return nil
	})
	fl := cmd.Flags()
	fl.StringVar(&state, "state", "", "only jobs in this state: queued, scheduled, running, retrying, succeeded, failed, cancelled")
	fl.StringVar(&flt.Queue, "queue", "", "only jobs of this queue")
	fl.StringVar(&flt.Kind, "kind", "", "only jobs of this kind")
	fl.IntVar(&flt.Limit, "limit", 0, "jobs per page (default the server's, 100)")
	fl.StringVar(&flt.Cursor, "cursor", "", "start after this cursor (printed under a page that has more)")
	fl.BoolVar(&flt.Newest, "newest", false, "list the newest jobs first")
	return cmd
}

func newJobsStatsCmd(f *jobsFlags, client func() *jobsclient.Client) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Print each queue's depth, running jobs, outcomes and rates",
		Args:  cobra.NoArgs,
	}
	cmd.RunE = jobsRunE(func(cmd *cobra.Command, _ []string) error {
		qs, err := client().Stats(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if f.json {
			return printJSON(out, jobshttp.QueuesResponse{Queues: qs})
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "QUEUE\tDEPTH\tSCHEDULED\tRUNNING\tSUCCEEDED\tFAILED\tCANCELLED\tRETRIED\tSUBMIT/S\tDONE/S\t")
		for _, q := range qs {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t\n", q.Queue, q.Depth, q.Scheduled, q.Running,
				q.Succeeded, q.Failed, q.Cancelled, q.Retried, q.SubmitRate, q.CompleteRate)
		}
		tw.Flush()
		if len(qs) == 0 {
			fmt.Fprintln(out, "(no queues yet)")
		}
		return nil
	})
	return cmd
}

// printInfo prints one job as a two-column table, or as JSON.
func printInfo(w io.Writer, f *jobsFlags, j jobs.Info) error {
	if f.json {
		return printJSON(w, j)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("id", j.ID)
	row("kind", j.Kind)
	row("queue", j.Queue)
	row("priority", jobshttp.PriorityName(j.Priority))
	row("state", string(j.State))
	row("attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	progress := percent(j.Progress)
	if j.Note != "" {
		progress += " " + j.Note
	}
	row("progress", progress)
	row("created", stamp(j.Created))
	if !j.RunAt.IsZero() && j.RunAt.After(j.Created) {
		row("run at", stamp(j.RunAt))
	}
	row("started", stamp(j.Started))
	finished := stamp(j.Finished)
	if finished != "" && !j.Started.IsZero() {
		finished += " (ran " + j.Finished.Sub(j.Started).Round(time.Millisecond).String() + ")"
	}
	row("finished", finished)
	row("worker", j.Worker)
	row("args", clip(string(j.Args), 200))
	row("result", clip(string(j.Result), 200))
	row("error", j.Error)
	return tw.Flush()
}

func percent(f float64) string { return strconv.FormatFloat(f*100, 'f', 0, 64) + "%" }

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format(time.RFC3339)
}

// clip shortens s to n bytes, saying how long it was.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("… (%d bytes; --json prints all)", len(s))
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
