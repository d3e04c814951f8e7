package workers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
	"github.com/herdrun/herd/workers/shm"
)

func init() {
	child.Register(roleName, workerProcess)
}

// workerProcess is the body of every worker process: it reads the start
// message, maps the shared buffers, then serves a pool or runs a single
// Thread's function.
func workerProcess(ctx context.Context, conn *ipc.Conn) error {
	m, err := conn.Recv(ctx)
	if err != nil {
		return nil // the parent went away before saying anything
	}
	var init initMsg
	if err := m.Decode(&init); err != nil {
		return fmt.Errorf("bad start message: %w", err)
	}
	if init.Nice > 0 || init.Idle {
		lowerThreads(init.Nice, init.Idle)
	}
	var shared []*shm.Buffer
	for range init.Shared {
		m, err := conn.Recv(ctx)
		if err != nil {
			return nil
		}
		f, ok := m.Handle.(*os.File)
		if !ok {
			return fmt.Errorf("shared buffer: got %T, want a file", m.Handle)
		}
		b, err := shm.Open(f)
		f.Close()
		if err != nil {
			return err
		}
		shared = append(shared, b)
	}
	ob := newOutbox(context.Background(), conn)
	if init.Mode == modeWorker {
		return serveWorker(ctx, conn, ob, init, shared)
	}
	return servePool(ctx, conn, ob, shared, max(1, init.InFlight))
}

// childTask is a task running in a worker process.
type childTask struct {
	rc runCtx
}

// childStart is a task received by a worker process, waiting to start.
type childStart struct {
	seq     uint64
	e       *taskEntry
	name    string
	payload []byte
	ct      *childTask
}

// servePool runs tasks for a pool until the parent closes the channel. At
// most inFlight run at once; the parent may send more ahead (Prefetch),
// which wait here in order.
func servePool(ctx context.Context, conn *ipc.Conn, ob *outbox, shared []*shm.Buffer, inFlight int) error {
	var (
		mu      sync.Mutex
		running = map[uint64]*childTask{} // received and not finished, for cancel records
		queue   []childStart              // received, not started
		closed  bool
		more    = make(chan struct{}, 1)
		sem     = make(chan struct{}, inFlight)
		wg      sync.WaitGroup
	)
	entries := map[string]*taskEntry{}
	send(ob, func(b []byte) []byte { return append(b, recReady) })

	// The starter takes tasks in order as run slots free up, says which it
	// starts before starting them (if this process dies, the parent
	// re-dispatches exactly the ones after), and starts them.
	starterDone := make(chan struct{})
	go func() {
		defer close(starterDone)
		var batch []childStart
		for {
			mu.Lock()
			for len(queue) == 0 && !closed {
				mu.Unlock()
				<-more
				mu.Lock()
			}
			if len(queue) == 0 {
				mu.Unlock()
				return
			}
			mu.Unlock()
			sem <- struct{}{}
			mu.Lock()
			batch = append(batch[:0], queue[0])
			queue = queue[1:]
			for len(queue) > 0 && len(sem) < cap(sem) {
				sem <- struct{}{}
				batch = append(batch, queue[0])
				queue = queue[1:]
			}
			mu.Unlock()
			last := batch[len(batch)-1].seq
			if ob.wait(send(ob, func(b []byte) []byte { return appendSeqRec(b, recAck, last) })) != nil {
				return
			}
			for _, s := range batch {
				wg.Add(1)
				go func() {
					defer wg.Done()
					status, payload := runInChild(s.ct, s.e, s.name, s.payload)
					mu.Lock()
					delete(running, s.seq)
					mu.Unlock()
					// Free the run slot only once the result is on the
					// socket: the next task may end this process (os.Exit,
					// a crash) and must not take an unsent result with it.
					if b := ob.begin(len(payload) + 16); b != nil {
						*b = appendResultRec(*b, s.seq, status, payload)
						_ = ob.wait(ob.commit())
					}
					<-sem
				}()
			}
		}
	}()
	wake := func() {
		select {
		case more <- struct{}{}:
		default:
		}
	}
	var rerr error
	for {
		m, err := conn.Recv(ctx)
		if err != nil {
			break
		}
		r := recReader{b: m.Data}
		added := false
		for {
			x, ok := r.next()
			if !ok {
				break
			}
			switch x.kind {
			case recTask:
				e, ok := entries[string(x.name)]
				if !ok {
					e = lookupTask(string(x.name))
					if e != nil {
						entries[e.name] = e
					}
				}
				ct := &childTask{rc: runCtx{parent: ctx, shared: shared}}
				mu.Lock()
				running[x.seq] = ct
				queue = append(queue, childStart{seq: x.seq, e: e, name: string(x.name), payload: x.payload, ct: ct})
				mu.Unlock()
				added = true
			case recCancel:
				mu.Lock()
				ct := running[x.seq]
				mu.Unlock()
				if ct != nil {
					ct.rc.cancel(context.Canceled)
				}
			}
		}
		if added {
			wake()
		}
		if r.err != nil {
			rerr = r.err
			break
		}
	}
	mu.Lock()
	closed = true
	queue = nil
	for _, ct := range running {
		ct.rc.cancel(context.Canceled)
	}
	mu.Unlock()
	wake()
	<-starterDone
	wg.Wait()
	return rerr
}

// send appends one record with fn and returns its ticket.
func send(ob *outbox, fn func([]byte) []byte) uint64 {
	b := ob.begin(16)
	if b == nil {
		return 0
	}
	*b = fn(*b)
	return ob.commit()
}

// runInChild runs one task and returns its result status and payload.
func runInChild(ct *childTask, e *taskEntry, name string, payload []byte) (status byte, out []byte) {
	if e == nil {
		return statusUnknown, []byte(fmt.Sprintf("%v: %q (registered in the worker: %v)", ErrUnknownTask, name, TaskNames()))
	}
	defer func() {
		if r := recover(); r != nil {
			status = statusPanic
			out = append(append([]byte(fmt.Sprint(r)), 0), debug.Stack()...)
		}
	}()
	res, err := e.callWire(&ct.rc, payload)
	if err != nil {
		var ce *CodecError
		if errors.As(err, &ce) {
			return statusCodec, []byte(ce.Error())
		}
		return statusError, []byte(err.Error())
	}
	return statusOK, res
}
