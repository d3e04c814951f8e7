package monit

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/herdrun/herd/cmd/herd/internal/daemon"
)

// Defaults of Options.
const (
	// DefaultInterval is the time between two lists of the apps.
	DefaultInterval = time.Second
	// DefaultFPS is the most redraws a second.
	DefaultFPS = 4
)

// ErrInterrupted is returned by Run when SIGINT ended the view (ctrl+c
// typed in the view is a key, and ends it without an error).
var ErrInterrupted = errors.New("interrupted")

// Options configures Run. Client is required; the zero value of every
// other field is a good default.
type Options struct {
	// Client is the daemon's client.
	Client *daemon.Client
	// Interval is the time between two lists of the apps, and so between
	// two samples of the sparklines; 0 means DefaultInterval.
	Interval time.Duration
	// FPS is the most redraws a second; 0 means DefaultFPS.
	FPS int
	// NoColor draws without colour (bold and reverse video only), as
	// NO_COLOR asks.
	NoColor bool
	// NoLogs starts with the log pane hidden (l shows it).
	NoLogs bool
	// Input and Output are the terminal; nil means stdin and stdout.
	Input  io.Reader
	Output io.Writer
}

// Run shows the view until the user quits (q or ctrl+c), ctx ends, or the
// process gets SIGINT, SIGTERM or SIGHUP; the terminal is restored in
// every case. It returns ErrInterrupted after SIGINT.
func Run(ctx context.Context, o Options) error {
	if o.Client == nil {
		return errors.New("monit: Options.Client is nil")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.FPS <= 0 {
		o.FPS = DefaultFPS
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := newModel(ctx, o)
	opts := []tea.ProgramOption{tea.WithContext(ctx), tea.WithFPS(o.FPS), tea.WithoutSignalHandler()}
	if o.Input != nil {
		opts = append(opts, tea.WithInput(o.Input))
	}
	if o.Output != nil {
		opts = append(opts, tea.WithOutput(o.Output))
	}
	if o.NoColor {
		opts = append(opts, tea.WithEnvironment(append(os.Environ(), "NO_COLOR=1")))
	}
	p := tea.NewProgram(m, opts...)
	st := &streams{ctx: ctx, c: o.Client, send: p.Send}
	m.streams = st
	st.events()
	defer st.close()

	// Signals end the program gracefully, so that it restores the
	// terminal; a second one is not waited for.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var interrupted atomic.Bool
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case sig := <-sigs:
			interrupted.Store(sig == syscall.SIGINT)
			p.Quit()
		case <-done:
		}
	}()
	_, err := p.Run()
	cancel()
	if err != nil && ctx.Err() != nil && errors.Is(err, tea.ErrProgramKilled) {
		err = nil // ctx ended: the view was asked to end
	}
	if err == nil && interrupted.Load() {
		err = ErrInterrupted
	}
	return err
}
