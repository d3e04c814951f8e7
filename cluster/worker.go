package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdrun/herd/internal/fifo"
	"github.com/herdrun/herd/ipc"
)

// WorkerFunc is the body of a worker process. ctx is cancelled when the
// worker must drain: the primary asked it to stop (SIGTERM: shutdown,
// reload, scale-down, recycling) or went away. The function should then stop
// accepting, finish what is in flight and return; Worker.Serve does that for
// an http.Handler. Returning nil exits the process with status 0, an error
// with status 1 after telling the primary what it was.
type WorkerFunc func(ctx context.Context, w *Worker) error

// Worker is the worker side of a cluster: one per worker process, handed to
// the WorkerFunc. Its methods are safe for concurrent use.
type Worker struct {
	id, slot int
	cfg      *Config
	conn     *ipc.Conn
	policy   Policy
	specs    []addrSpec
	files    []*os.File // inherited listeners by position (nil under PolicyDispatch)
	maxReqs  int64

	ready     sync.Once
	readyErr  error
	requests  atomic.Int64
	recycling atomic.Bool

	mu       sync.Mutex
	dispatch map[int]*dispatchListener
	pending  map[int]chan ipc.Message // lazy Listen replies by seq
	seq      int

	inbox *fifo.Queue[json.RawMessage] // messages from the primary, for Recv

	closedN    atomic.Int64  // dispatched connections closed, not yet reported
	closedKick chan struct{} // wakes the reporter
}

// ID returns the worker's ID: unique for the life of the primary, from 1,
// like Node's worker.id. A respawned or reloaded worker gets a new ID.
func (w *Worker) ID() int { return w.id }

// Slot returns the worker's slot, from 0 to Config.Workers-1. A worker that
// replaces another (respawn, reload, recycling) takes its slot.
func (w *Worker) Slot() int { return w.slot }

// Requests returns how many requests Serve has handled in this worker.
func (w *Worker) Requests() int64 { return w.requests.Load() }

// Ready tells the primary that this worker is ready to serve. Only the first
// call sends anything. Without Config.ManualReady the first successful
// Listen calls it.
func (w *Worker) Ready() error {
	w.ready.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.readyErr = w.conn.Send(ctx, ctl{Herd: msgReady})
	})
	return w.readyErr
}

// Send sends v, encoded with encoding/json, to the primary, where it
// arrives as an EventMessage.
func (w *Worker) Send(ctx context.Context, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.conn.Send(ctx, ctl{Herd: msgUser, Data: data})
}

// Recv returns the next message the primary sent (Cluster.Broadcast or
// Cluster.Send), as JSON. It fails when ctx ends or the primary is gone.
func (w *Worker) Recv(ctx context.Context) (json.RawMessage, error) {
	return w.inbox.Pop(ctx)
}

// Recycle asks the primary to replace this worker: a new worker is started
// in its slot and, once it is ready, this one is drained (its context is
// cancelled). reason appears in the primary's log. Serve calls it when
// Config.MaxRequests is reached. Only the first call sends anything.
func (w *Worker) Recycle(reason string) error {
	if !w.recycling.CompareAndSwap(false, true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.conn.Send(ctx, ctl{Herd: msgRecycle, Msg: reason})
}

// Listen returns a listener on an address the primary shares: one of
// Config.Listen, matched by network ("" is "tcp") and address as written
// there or as bound. Under PolicyShared an address not in Config.Listen is
// opened by the primary on first request and shared from then on. The
// listener belongs to this worker; closing it does not close the primary's
// socket. Unless Config.ManualReady is set, the first successful Listen makes
// the worker ready.
func (w *Worker) Listen(network, address string) (net.Listener, error) {
	if network == "" {
		network = "tcp"
	}
	ln, err := w.listen(network, address)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = w.conn.Send(ctx, ctl{Herd: msgListening, Net: network, Addr: ln.Addr().String()})
	if !w.cfg.ManualReady {
		if err := w.Ready(); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

func (w *Worker) listen(network, address string) (net.Listener, error) {
	for i, s := range w.specs {
		if s.Net != network || (s.Addr != address && s.Bound != address) {
			continue
		}
		if w.policy == PolicyDispatch {
			return w.dispatchListener(i)
		}
		if i >= len(w.files) || w.files[i] == nil {
			return nil, fmt.Errorf("%w: %s %s: descriptor %d missing", ErrNoListener, network, address, 3+i)
		}
		ln, err := net.FileListener(w.files[i])
		if err != nil {
			return nil, fmt.Errorf("cluster: listener %s %s (fd %d): %w", network, address, 3+i, err)
		}
		return ln, nil
	}
	if w.policy != PolicyShared {
		return nil, fmt.Errorf("%w: %s %s is not in Config.Listen (on-demand listeners need PolicyShared)", ErrNoListener, network, address)
	}
	return w.listenRemote(network, address)
}

// listenRemote asks the primary to open (or find) address and send it.
func (w *Worker) listenRemote(network, address string) (net.Listener, error) {
	w.mu.Lock()
	w.seq++
	seq := w.seq
	reply := make(chan ipc.Message, 1)
	w.pending[seq] = reply
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.pending, seq)
		w.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.ReadyTimeout)
	defer cancel()
	if err := w.conn.Send(ctx, ctl{Herd: msgListen, Seq: seq, Net: network, Addr: address}); err != nil {
		return nil, fmt.Errorf("cluster: ask the primary to listen on %s %s: %w", network, address, err)
	}
	var m ipc.Message
	select {
	case m = <-reply:
	case <-ctx.Done():
		return nil, fmt.Errorf("cluster: ask the primary to listen on %s %s: %w", network, address, ctx.Err())
	case <-w.conn.Done():
		return nil, fmt.Errorf("cluster: ask the primary to listen on %s %s: %w", network, address, w.conn.Err())
	}
	var c ctl
	_ = m.Decode(&c)
	if c.Herd == msgListenErr || m.Handle == nil {
		closeHandle(m.Handle)
		return nil, errors.New(c.Msg)
	}
	f, ok := m.Handle.(*os.File)
	if !ok {
		closeHandle(m.Handle)
		return nil, fmt.Errorf("cluster: primary sent a %T for %s %s", m.Handle, network, address)
	}
	defer f.Close()
	return net.FileListener(f)
}

// readLoop receives from the primary until the channel ends.
func (w *Worker) readLoop() {
	for {
		m, err := w.conn.Recv(context.Background())
		if err != nil {
			w.inbox.Close(err)
			w.mu.Lock()
			for _, d := range w.dispatch {
				d.shut()
			}
			w.mu.Unlock()
			return
		}
		var c ctl
		if m.Kind == ipc.KindJSON {
			_ = json.Unmarshal(m.Data, &c)
		}
		switch c.Herd {
		case msgConn:
			w.deliver(c.L, m.Handle)
		case msgListenOK, msgListenErr:
			w.mu.Lock()
			ch := w.pending[c.Seq]
			w.mu.Unlock()
			if ch != nil {
				ch <- m
			} else {
				closeHandle(m.Handle)
			}
		case msgUser:
			w.inbox.Push(c.Data)
			closeHandle(m.Handle)
		default:
			w.inbox.Push(json.RawMessage(m.Data))
			closeHandle(m.Handle)
		}
	}
}

// heartbeat reports liveness every interval until ctx ends.
func (w *Worker) heartbeat(ctx context.Context) {
	iv := w.cfg.HeartbeatInterval
	if iv < 0 {
		return
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if w.cfg.Health == nil || w.healthy(ctx, iv) {
			sctx, cancel := context.WithTimeout(ctx, iv)
			_ = w.conn.Send(sctx, beatJSON)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Worker) healthy(ctx context.Context, iv time.Duration) bool {
	hctx, cancel := context.WithTimeout(ctx, iv)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.cfg.Health(hctx) }()
	select {
	case err := <-done:
		return err == nil
	case <-hctx.Done():
		return false
	}
}

func closeHandle(h any) {
	if c, ok := h.(interface{ Close() error }); ok {
		c.Close()
	}
}

func envInt(key string) int {
	n, _ := strconv.Atoi(os.Getenv(key))
	return n
}
