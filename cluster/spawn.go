package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/supervise"
	"github.com/herdrun/herd/ipc"
)

// trampoline is the shell script that gives a Command worker the
// LISTEN_PID it needs: the pid is unknown before the fork, and exec keeps
// it, so the shell sets it to its own pid ($$) and execs the program in its
// place. Descriptors, the channel and the parent-death signal carry over.
const trampoline = `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`

// start starts w's process: this program again, or Config.Command.
func (c *Cluster) start(w *wproc) (*child.Process, error) {
	files, specs, cleanup, err := c.workerFiles()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	if c.cfg.Dir != "" {
		// The kernel's error for a bad directory names the program.
		if _, err := os.Stat(c.cfg.Dir); err != nil {
			return nil, fmt.Errorf("cluster: worker directory: %w", err)
		}
	}
	env := c.workerEnv(w, specs, len(files))
	if w.command && c.cfg.NotifySocket {
		kv, err := c.openNotify(w)
		if err != nil {
			return nil, fmt.Errorf("cluster: notify socket: %w", err)
		}
		env = append(env, kv)
	}
	env = dedupEnv(env)
	opts := &child.Options{Env: env, Dir: c.cfg.Dir, ExtraFiles: files, Stdout: c.cfg.Stdout, Stderr: c.cfg.Stderr}
	if c.cfg.Output != nil {
		if o, e := c.cfg.Output(w.id, w.slot); o != nil || e != nil {
			if o != nil {
				opts.Stdout = o
			}
			if e != nil {
				opts.Stderr = e
			}
		}
	}
	// Workers are stopped by the primary's own escalation (stopWorker),
	// never by a context; these only matter if the primary's context
	// machinery were used.
	opts.KillGrace = c.cfg.ShutdownTimeout
	bg := context.Background()
	if w.command {
		name, args := c.cfg.Command[0], c.cfg.Command[1:]
		if len(files) > 0 {
			args = append([]string{"-c", trampoline, name}, args...)
			name = "/bin/sh"
		}
		p, err := child.Fork(bg, name, args, opts)
		if err != nil {
			w.closeNotify()
		}
		return p, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cluster: find this program: %w", err)
	}
	opts.Channel = ipc.Options{Mode: ipc.ModeFast}
	return child.Fork(bg, exe, os.Args[1:], opts)
}

// workerFiles returns the listening sockets a new worker inherits as fds
// 3.., their specs, and what to close once it has started.
func (c *Cluster) workerFiles() (files []*os.File, specs []addrSpec, cleanup func(), err error) {
	var owned []*os.File
	cleanup = func() {
		for _, f := range owned {
			f.Close()
		}
	}
	for _, s := range c.lns {
		specs = append(specs, s.spec())
		if c.cfg.Policy == PolicyDispatch {
			continue
		}
		f, own, err := s.workerSocket(context.Background())
		if err != nil {
			cleanup()
			return nil, nil, func() {}, err
		}
		if own {
			owned = append(owned, f)
		}
		files = append(files, f)
	}
	return files, specs, cleanup, nil
}

// workerEnv builds a worker's environment.
func (c *Cluster) workerEnv(w *wproc, specs []addrSpec, nfiles int) []string {
	env := make([]string, 0, len(os.Environ())+len(c.cfg.Env)+10)
	for _, kv := range os.Environ() {
		if !isClusterVar(kv) {
			env = append(env, kv)
		}
	}
	env = append(env, c.cfg.Env...)
	if c.cfg.WorkerEnv != nil {
		env = append(env, c.cfg.WorkerEnv(w.slot)...)
	}
	if procs := c.workerProcs(); procs > 0 && !w.command && os.Getenv("GOMAXPROCS") == "" {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(procs))
	}
	if !w.command || !c.cfg.NoClusterEnv {
		addrs, _ := json.Marshal(specs)
		env = append(env,
			envWorker+"="+strconv.Itoa(w.id),
			envSlot+"="+strconv.Itoa(w.slot),
			envParent+"="+strconv.Itoa(os.Getpid()),
			envPolicy+"="+c.cfg.Policy.String(),
			envAddrs+"="+string(addrs),
		)
		if c.cfg.MaxRequests > 0 {
			n := max(supervise.JitterInt(c.cfg.MaxRequests, max(c.cfg.RecycleJitter, 0)), 1)
			env = append(env, envMaxReq+"="+strconv.FormatInt(n, 10))
		}
	}
	if nfiles > 0 {
		names := make([]string, 0, nfiles)
		for _, s := range specs[:nfiles] {
			names = append(names, s.Name)
		}
		env = append(env, envListenN+"="+strconv.Itoa(nfiles), envListenNm+"="+strings.Join(names, ":"))
	}
	return env
}

// workerProcs returns the GOMAXPROCS for Go workers, 0 for Go's default.
func (c *Cluster) workerProcs() int {
	if c.cfg.WorkerProcs >= 0 {
		return c.cfg.WorkerProcs
	}
	n := max(len(c.slots), c.cfg.Workers, 1)
	return max(runtime.NumCPU()/n, 1)
}

// dedupEnv returns env with one entry per variable: the last one given
// wins, in the place of the first, as with os/exec. Without it a variable
// of the primary's own environment would shadow the worker's value of it
// in most programs, which read the first.
func dedupEnv(env []string) []string {
	last := make(map[string]int, len(env))
	for i, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		last[k] = i
	}
	out := make([]string, 0, len(last))
	seen := make(map[string]bool, len(last))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, env[last[k]])
	}
	return out
}

func isClusterVar(kv string) bool {
	for _, k := range clusterEnv {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}

// listenFor opens (or finds) an address a worker asked for and sends it.
// On the loop.
func (c *Cluster) listenFor(w *wproc, req ctl) {
	network := req.Net
	if network == "" {
		network = "tcp"
	}
	found, err := c.sharedFor(network, req.Addr)
	var f *os.File
	if err == nil {
		f = found.file
	}
	conn := w.conn
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.ReadyTimeout)
		defer cancel()
		if err != nil {
			_ = conn.Send(ctx, ctl{Herd: msgListenErr, Seq: req.Seq, Msg: err.Error()})
			return
		}
		_ = conn.SendHandle(ctx, ctl{Herd: msgListenOK, Seq: req.Seq}, f)
	}()
}
