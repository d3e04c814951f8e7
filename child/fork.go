package child

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/herdrun/herd/ipc"
)

// channelFD is the descriptor number of the channel in a child without
// Options.ExtraFiles (then it is channelFD+len(ExtraFiles)), as in
// Node, where it is the index of 'ipc' in stdio.
const channelFD = 3

// Fork starts path with args, like Spawn, plus a message channel to the
// child in Process.Channel: Node's child_process.fork. The child finds the
// channel through NODE_CHANNEL_FD, so it can be any program that speaks
// Node's channel: a Node script (process.send and process.on('message')
// work unchanged), or a Go program that calls ipc.FromEnv.
//
// A path ending in .js, .mjs or .cjs is run by Options.ExecPath (default
// "node"): Fork(ctx, "worker.js", nil, nil) is node worker.js. Any other
// path is run as a program, looked up in PATH when it has no slash.
//
// Unlike Spawn, a nil Options.Stdout or Stderr means the child writes to
// this process's own stdout or stderr, as Node's fork does; a nil Stdin is
// /dev/null. The channel speaks Options.Channel.Mode, ipc.ModeNode by
// default.
func Fork(ctx context.Context, path string, args []string, opts *Options) (*Process, error) {
	o := opts.withDefaults()
	name := path
	switch strings.ToLower(filepath.Ext(path)) {
	case ".js", ".mjs", ".cjs":
		name = o.ExecPath
		if name == "" {
			name = "node"
		}
		args = append([]string{path}, args...)
	}
	return forkWithChannel(ctx, name, args, &o, o.Channel, nil)
}

// forkWithChannel starts name with a channel on fd 3 speaking ch.Mode.
// extraEnv is added to the child's environment.
func forkWithChannel(ctx context.Context, name string, args []string, o *Options, ch ipc.Options, extraEnv []string) (*Process, error) {
	conn, remote, err := ipc.Pair(&ch)
	if err != nil {
		return nil, &StartError{Cmd: strings.Join(append([]string{name}, args...), " "), Err: err}
	}
	base := o.Env
	if base == nil {
		base = os.Environ()
	}
	env := append(ipc.ChildEnv(base, channelFD+len(o.ExtraFiles), ch.Mode), extraEnv...)
	oc := *o
	oc.Env = env
	extra := &spawnExtra{ExtraFiles: []*os.File{remote}, nullStdin: true}
	if oc.Stdout == nil {
		extra.Stdout = os.Stdout
	}
	if oc.Stderr == nil {
		extra.Stderr = os.Stderr
	}
	p, err := spawn(ctx, name, args, &oc, extra)
	remote.Close()
	if err != nil {
		conn.Close()
		return nil, err
	}
	p.Channel = conn
	return p, nil
}

// ForkSelf runs the function registered under role (see Register) in a new
// process of this same program, with a channel to it in Process.Channel:
// the Go form of Node's fork('./worker.js'). The child must call Dispatch
// at the top of main. The binary is the one on disk now (os.Executable),
// so a replaced binary takes effect at the next ForkSelf. args become the
// child's os.Args[1:]. The channel speaks ipc.ModeFast. As with Fork, the
// child's stdout and stderr default to this process's own.
func ForkSelf(ctx context.Context, role string, args []string, opts *Options) (*Process, error) {
	_, ok := roles.Lookup(role)
	if !ok {
		return nil, &StartError{Cmd: role, Err: fmt.Errorf("%w: %q (registered: %v)", ErrUnknownRole, role, Roles())}
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, &StartError{Cmd: role, Err: fmt.Errorf("find this program: %w", err)}
	}
	o := opts.withDefaults()
	if o.Env == nil {
		o.Env = os.Environ()
	}
	o.Env = withoutVar(o.Env, EnvRole)
	ch := o.Channel
	ch.Mode = ipc.ModeFast
	return forkWithChannel(ctx, exe, args, &o, ch, []string{EnvRole + "=" + role})
}

func withoutVar(env []string, key string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
