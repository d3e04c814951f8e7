package ipc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Environment variables that carry the channel to a child.
const (
	// EnvChannelFD holds the child's descriptor number of the channel, as
	// Node's fork sets it.
	EnvChannelFD = "NODE_CHANNEL_FD"
	// EnvSerialization holds Node's serialization mode; herd speaks "json".
	EnvSerialization = "NODE_CHANNEL_SERIALIZATION_MODE"
	// EnvMode is "fast" when a herd parent offers ModeFast.
	EnvMode = "HERD_IPC_MODE"
	// EnvParent is the pid of the herd parent that offered ModeFast; the
	// child takes fast mode only if it matches its parent pid.
	EnvParent = "HERD_IPC_PARENT"
)

var channelEnv = []string{EnvChannelFD, EnvSerialization, EnvMode, EnvParent}

// ChildEnv returns base without any channel variables, followed by the
// variables that tell a child its channel is descriptor fd, speaking mode.
// base is typically os.Environ().
func ChildEnv(base []string, fd int, mode Mode) []string {
	env := make([]string, 0, len(base)+4)
	for _, kv := range base {
		if !isChannelVar(kv) {
			env = append(env, kv)
		}
	}
	env = append(env, EnvChannelFD+"="+strconv.Itoa(fd), EnvSerialization+"=json")
	if mode == ModeFast {
		env = append(env, EnvMode+"=fast", EnvParent+"="+strconv.Itoa(os.Getpid()))
	}
	return env
}

// StripEnv returns base without the channel variables, for a child that
// must not see its parent's channel.
func StripEnv(base []string) []string {
	env := make([]string, 0, len(base))
	for _, kv := range base {
		if !isChannelVar(kv) {
			env = append(env, kv)
		}
	}
	return env
}

func isChannelVar(kv string) bool {
	for _, k := range channelEnv {
		if strings.HasPrefix(kv, k) && len(kv) > len(k) && kv[len(k)] == '=' {
			return true
		}
	}
	return false
}

// FromEnv opens the channel this process's parent set up, a Node parent
// or a herd one. Like a Node child, it removes the channel variables from
// the environment and closes the inherited descriptor number, so that
// grandchildren do not inherit the channel. It returns ErrNoChannel when
// there is none, and ErrUnsupportedSerialization when the parent asked for
// Node's "advanced" serialization. opts.Mode is ignored: the mode is the one
// the parent offered.
func FromEnv(opts *Options) (*Conn, error) {
	s, ok := os.LookupEnv(EnvChannelFD)
	if !ok {
		return nil, ErrNoChannel
	}
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 0 {
		return nil, fmt.Errorf("%w: %s=%q is not a descriptor number", ErrNoChannel, EnvChannelFD, s)
	}
	if ser := os.Getenv(EnvSerialization); ser != "" && ser != "json" {
		return nil, fmt.Errorf("%w: %q (herd speaks json; use serialization: 'json' in the Node parent)", ErrUnsupportedSerialization, ser)
	}
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.Mode = ModeNode
	if os.Getenv(EnvMode) == "fast" && os.Getenv(EnvParent) == strconv.Itoa(os.Getppid()) {
		o.Mode = ModeFast
	}
	for _, k := range channelEnv {
		os.Unsetenv(k)
	}
	f := os.NewFile(uintptr(fd), "ipc-parent")
	if f == nil {
		return nil, fmt.Errorf("%w: descriptor %d is not open", ErrNoChannel, fd)
	}
	c, err := New(f, &o)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: descriptor %d: %v", ErrNoChannel, fd, err)
	}
	return c, nil
}
