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
//
// Each of inFlight runner goroutines takes the next task in order and runs
// it itself. A task's ack goes out before the task starts (if this process
// dies, the parent re-dispatches exactly the tasks after the last ack), and
// a result goes out before its runner starts another task (the next task
// may end this process and must not take an unsent result with it). When a
// runner finishes a task and the next one is already here, the result and
// the next ack share one frame and one write: one system call and one
// wake-up of the parent per task, and no goroutine hop between tasks.
func servePool(ctx context.Context, conn *ipc.Conn, ob *outbox, shared []*shm.Buffer, inFlight int) error {
	var (
		mu      sync.Mutex
		cond    = sync.Cond{L: &mu}
		running = map[uint64]*childTask{} // received and not finished, for cancel records
		queue   []childStart              // received, not started
		closed  bool
		wg      sync.WaitGroup
	)
	entries := map[string]*taskEntry{}
	if sendReady(conn) != nil {
		return nil // the parent went away
	}

	runner := func() {
		defer wg.Done()
		var (
			done    bool   // a result is pending: last's
			last    uint64 // its seq
			status  byte
			payload []byte
		)
		for {
			mu.Lock()
			for len(queue) == 0 && !closed && !done {
				cond.Wait()
			}
			if len(queue) == 0 {
				mu.Unlock()
				if done {
					// Nothing to start: the result goes out on its own.
					done = false
					if b := ob.begin(len(payload) + 16); b != nil {
						*b = appendResultRec(*b, last, status, payload)
						if ob.wait(ob.commit()) != nil {
							return
						}
					}
					continue
				}
				return // closed
			}
			s := queue[0]
			queue[0] = childStart{}
			queue = queue[1:]
			// Take the outbox before letting go of the queue, so that acks
			// are written in the order their tasks were taken.
			b := ob.begin(len(payload) + 32)
			mu.Unlock()
			if b == nil {
				return // the channel failed
			}
			if done {
				done = false
				*b = appendResultRec(*b, last, status, payload)
				ob.batch()
			}
			*b = appendSeqRec(*b, recAck, s.seq)
			if ob.wait(ob.commit()) != nil {
				return
			}
			status, payload = runInChild(s.ct, s.e, s.name, s.payload)
			last, done = s.seq, true
			mu.Lock()
			delete(running, s.seq)
			mu.Unlock()
		}
	}
	wg.Add(inFlight)
	for range inFlight {
		go runner()
	}
	var rerr error
	for {
		m, err := conn.Recv(ctx)
		if err != nil {
			break
		}
		r := recReader{b: m.Data}
		added := 0
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
				added++
			case recCancel:
				mu.Lock()
				ct := running[x.seq]
				mu.Unlock()
				if ct != nil {
					ct.rc.cancel(context.Canceled)
				}
			}
		}
		switch {
		case added == 1:
			cond.Signal()
		case added > 1:
			cond.Broadcast()
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
	cond.Broadcast()
	wg.Wait()
	return rerr
}

// sendReady tells the parent this worker is ready, with a write of its own
// on this goroutine: through the outbox, whose writer yields first to let
// other records join, the write tends to move to another thread, and at
// start-up on a busy machine each such hop waits for a core.
func sendReady(conn *ipc.Conn) error {
	return conn.SendBytes(context.Background(), []byte{recReady})
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
