package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/registry"
	"github.com/herdrun/herd/ipc"
	"github.com/herdrun/herd/workers/shm"
)

var (
	// ErrExited is returned by Thread.Recv once the worker has ended and
	// every message it sent has been read, and by Thread.Send after it
	// ended; by Port.Recv and Port.Send once the parent has gone.
	ErrExited = errors.New("workers: the other side has exited")
	// ErrTerminated is Thread.Err after Terminate (or the Start context)
	// stopped the worker.
	ErrTerminated = errors.New("workers: worker was terminated")
)

// ThreadFunc is the body of a long-lived Thread: Node's worker script. It
// talks to its parent through port and returns when it is done. ctx is
// cancelled by Terminate, and on the process backend when the parent goes
// away.
type ThreadFunc func(ctx context.Context, port *Port) error

// ThreadTask is a ThreadFunc registered by name with RegisterThread.
type ThreadTask struct {
	name string
	fn   ThreadFunc
}

// Name returns the name the function was registered under.
func (w ThreadTask) Name() string { return w.name }

// workerFuncs holds the functions registered with RegisterThread.
var workerFuncs = registry.New[ThreadTask]("workers: worker")

// RegisterThread makes fn startable as a Thread under name, on either
// backend. Like Register, call it at package level so that worker
// processes have it too. It panics if name is empty or taken, or fn is nil.
func RegisterThread(name string, fn ThreadFunc) ThreadTask {
	if name == "" || fn == nil {
		panic("workers: RegisterThread needs a name and a function")
	}
	wt := ThreadTask{name: name, fn: fn}
	workerFuncs.Add(name, wt)
	return wt
}

// ThreadOptions configures Start. The zero value runs the worker in a
// goroutine. The process-only fields mean what they mean in Options.
type ThreadOptions struct {
	Backend      Backend
	Shared       []*shm.Buffer
	MemoryLimit  int64
	Nice         int
	Idle         bool
	StartTimeout time.Duration
	Stdout       io.Writer
	Stderr       io.Writer
	Name         string
	Env          []string
}

// Port is a Thread's side of the conversation with its parent: Node's
// parentPort and workerData.
type Port struct {
	data   []byte
	shared []*shm.Buffer
	in     *msgQueue
	send   func(ctx context.Context, m Message) error
}

// Data decodes the data given to Start (workerData) into v.
func (p *Port) Data(v any) error {
	if len(p.data) == 0 {
		return nil
	}
	return json.Unmarshal(p.data, v)
}

// Shared returns the shared buffers given in ThreadOptions.Shared, mapped
// in this process.
func (p *Port) Shared() []*shm.Buffer { return p.shared }

// Send sends v, encoded with encoding/json, to the parent.
func (p *Port) Send(ctx context.Context, v any) error {
	m, err := encodeMessage(v)
	if err != nil {
		return err
	}
	return p.send(ctx, m)
}

// SendBytes sends b to the parent as raw bytes.
func (p *Port) SendBytes(ctx context.Context, b []byte) error {
	return p.send(ctx, Message{Data: b, Raw: true})
}

// Recv returns the next message from the parent. It returns ErrExited when
// the parent has gone, and ctx's error if ctx ends first.
func (p *Port) Recv(ctx context.Context) (Message, error) { return p.in.Pop(ctx) }

// Thread is a long-lived function running in a goroutine or in a process
// of its own, exchanging messages with its parent: Node's worker_threads
// new Worker(file, {workerData}). It is named Thread so that it is never
// confused with cluster.Worker, a process of a multi-process server. Its
// methods are safe for concurrent use.
type Thread struct {
	pid    int
	in     *msgQueue
	send   func(ctx context.Context, m Message) error
	online chan struct{}
	done   chan struct{}
	err    error // set before done closes
	term   func()

	mu         sync.Mutex
	terminated bool
}

// Start starts the registered function wt with data (workerData, encoded
// with encoding/json). With Backend Processes it runs in a new process of
// this program (which must call child.Dispatch at the top of main), and
// Start returns once that process is online, or a *StartError; with
// goroutines it returns at once. Online is closed by then either way.
// Cancelling ctx terminates the worker.
func Start(ctx context.Context, wt ThreadTask, data any, opts *ThreadOptions) (*Thread, error) {
	if wt.fn == nil {
		return nil, fmt.Errorf("workers: Start needs a ThreadTask from RegisterThread")
	}
	var o ThreadOptions
	if opts != nil {
		o = *opts
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("workers: encode worker data: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var w *Thread
	if o.Backend == Processes {
		w, err = startProcWorker(wt, raw, &o)
	} else {
		w = startGoWorker(wt, raw, &o)
	}
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { w.Terminate() })
	go func() {
		<-w.done
		stop()
	}()
	return w, nil
}

func startGoWorker(wt ThreadTask, data []byte, o *ThreadOptions) *Thread {
	toWorker, toParent := newMsgQueue(), newMsgQueue()
	ctx, cancel := context.WithCancel(context.Background())
	w := &Thread{in: toParent, online: make(chan struct{}), done: make(chan struct{})}
	w.send = func(ctx context.Context, m Message) error {
		if isClosed(w.done) {
			return ErrExited
		}
		m.Data = append([]byte(nil), m.Data...)
		if !toWorker.Push(m) {
			return ErrExited
		}
		return nil
	}
	port := &Port{data: data, shared: o.Shared, in: toWorker}
	port.send = func(ctx context.Context, m Message) error {
		m.Data = append([]byte(nil), m.Data...)
		if !toParent.Push(m) {
			return ErrExited
		}
		return nil
	}
	var once sync.Once
	end := func(err error) {
		once.Do(func() {
			w.err = err
			toParent.Close(ErrExited)
			close(w.done)
		})
	}
	w.term = func() {
		// Record the termination before cancelling: the function may
		// return ctx's error at once, and the first end wins.
		end(ErrTerminated)
		toWorker.Close(ErrExited)
		cancel()
	}
	close(w.online)
	go func() {
		defer cancel()
		status, payload := callWorker(ctx, wt, port)
		toWorker.Close(ErrExited)
		end(workerErr(wt.name, status, payload, nil))
	}()
	return w
}

// callWorker runs a worker function, recovering a panic.
func callWorker(ctx context.Context, wt ThreadTask, port *Port) (status byte, payload []byte) {
	defer func() {
		if r := recover(); r != nil {
			status = statusPanic
			payload = append(append([]byte(fmt.Sprint(r)), 0), debug.Stack()...)
		}
	}()
	ctx = context.WithValue(ctx, sharedKey{}, port.shared)
	if err := wt.fn(ctx, port); err != nil {
		return statusError, []byte(err.Error())
	}
	return statusOK, nil
}

// workerErr turns a worker's exit status into Thread.Err's value.
func workerErr(name string, status byte, payload []byte, orig error) error {
	switch status {
	case statusOK:
		return nil
	case statusPanic:
		v, stack, _ := bytesCut(payload, 0)
		return &PanicError{Task: name, Value: string(v), Stack: string(stack)}
	case statusUnknown:
		return &TaskError{Task: name, Err: &remoteError{msg: string(payload), unknown: true}}
	}
	return &TaskError{Task: name, Err: &remoteError{msg: string(payload)}}
}

func startProcWorker(wt ThreadTask, data []byte, o *ThreadOptions) (*Thread, error) {
	po := &Options{
		Shared: o.Shared, MemoryLimit: o.MemoryLimit, Nice: o.Nice, Idle: o.Idle, StartTimeout: o.StartTimeout,
		Stdout: o.Stdout, Stderr: o.Stderr, Env: o.Env,
	}
	name := o.Name
	if name == "" {
		name = wt.name
	}
	for _, b := range o.Shared {
		if _, err := b.File(); err != nil {
			return nil, fmt.Errorf("workers: ThreadOptions.Shared: %w", err)
		}
	}
	w := &Thread{in: newMsgQueue(), online: make(chan struct{}), done: make(chan struct{})}
	var (
		exitMu     sync.Mutex
		exitStatus = -1
		exitData   []byte
	)
	onRecord := func(x rec) {
		switch x.kind {
		case recMessage:
			w.in.Push(Message{Data: x.payload, Raw: x.sub == 'B'})
		case recExit:
			exitMu.Lock()
			exitStatus, exitData = int(x.sub), x.payload
			exitMu.Unlock()
		}
	}
	pw, err := startProc(nil, po, name, modeWorker, wt.name, data, onRecord)
	if err != nil {
		return nil, err
	}
	w.pid = pw.p.Pid
	close(w.online)
	w.send = func(ctx context.Context, m Message) error {
		if isClosed(w.done) {
			return ErrExited
		}
		kind := byte('J')
		if m.Raw {
			kind = 'B'
		}
		b := pw.ob.begin(len(m.Data) + 12)
		if b == nil {
			return ErrExited
		}
		*b = appendKindRec(*b, recMessage, kind, m.Data)
		if err := pw.ob.wait(pw.ob.commit()); err != nil {
			return fmt.Errorf("%w: %v", ErrExited, err)
		}
		return nil
	}
	w.term = func() {
		w.mu.Lock()
		w.terminated = true
		w.mu.Unlock()
		pw.kill("terminated")
	}
	go func() {
		<-pw.rdone
		perr := pw.p.Wait()
		pw.conn.Close()
		pw.out.flush()
		pw.errw.flush()
		if pw.mem != nil {
			defer pw.mem.release()
		}
		exitMu.Lock()
		st, pl := exitStatus, exitData
		exitMu.Unlock()
		w.mu.Lock()
		term := w.terminated
		w.mu.Unlock()
		switch {
		case term:
			w.err = ErrTerminated
		case st >= 0:
			w.err = workerErr(wt.name, byte(st), pl, perr)
		case perr != nil:
			fatal, oomText := pw.errw.crash()
			xe := &WorkerExitError{ExitStatus: child.ExitStatus{Code: -1}, Task: wt.name, Pid: pw.p.Pid, Stderr: pw.errw.tailString(), Fatal: fatal}
			var ee *child.ExitError
			if errors.As(perr, &ee) {
				xe.ExitStatus = ee.ExitStatus
			}
			if pw.mem != nil {
				xe.OOM = pw.mem.oomKilled() || oomText
			}
			w.err = xe
		default:
			w.err = &WorkerExitError{Task: wt.name, Pid: pw.p.Pid, Stderr: pw.errw.tailString()}
		}
		w.in.Close(ErrExited)
		close(w.done)
	}()
	return w, nil
}

// Pid returns the worker's process id, or 0 on the goroutine backend.
func (w *Thread) Pid() int { return w.pid }

// Online returns a channel that is closed once the worker runs (Node's
// 'online' event).
func (w *Thread) Online() <-chan struct{} { return w.online }

// Done returns a channel that is closed when the worker has ended (Node's
// 'exit' event); Err then says how.
func (w *Thread) Done() <-chan struct{} { return w.done }

// Err returns nil while the worker runs or if its function returned nil;
// after it ended otherwise: a *TaskError with the function's error, a
// *PanicError, a *WorkerExitError if its process died, or ErrTerminated.
func (w *Thread) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// Send sends v, encoded with encoding/json, to the worker. It returns
// ErrExited once the worker has ended.
func (w *Thread) Send(ctx context.Context, v any) error {
	m, err := encodeMessage(v)
	if err != nil {
		return err
	}
	return w.send(ctx, m)
}

// SendBytes sends b to the worker as raw bytes.
func (w *Thread) SendBytes(ctx context.Context, b []byte) error {
	return w.send(ctx, Message{Data: b, Raw: true})
}

// Recv returns the next message from the worker. After the worker ended
// and every message it sent was read, it returns ErrExited.
func (w *Thread) Recv(ctx context.Context) (Message, error) { return w.in.Pop(ctx) }

// Terminate stops the worker now: a process worker gets SIGKILL; a
// goroutine worker has its context cancelled and counts as ended at once,
// though its function runs on until it returns. Terminate waits until the
// worker has ended (the process reaped) and returns nil; Err is then
// ErrTerminated unless the worker had already ended.
func (w *Thread) Terminate() error {
	if !isClosed(w.done) {
		w.term()
	}
	<-w.done
	return nil
}

// serveWorker is the process side of a single Thread.
func serveWorker(ctx context.Context, conn *ipc.Conn, ob *outbox, init initMsg, shared []*shm.Buffer) error {
	wt, ok := workerFuncs.Lookup(init.Name)
	if !ok {
		msg := fmt.Sprintf("%v: worker %q", ErrUnknownTask, init.Name)
		ob.wait(send(ob, func(b []byte) []byte { return appendKindRec(b, recExit, statusUnknown, []byte(msg)) }))
		return errors.New(msg)
	}
	in := newMsgQueue()
	port := &Port{data: init.Data, shared: shared, in: in}
	port.send = func(ctx context.Context, m Message) error {
		kind := byte('J')
		if m.Raw {
			kind = 'B'
		}
		b := ob.begin(len(m.Data) + 12)
		if b == nil {
			return ErrExited
		}
		*b = appendKindRec(*b, recMessage, kind, m.Data)
		if err := ob.wait(ob.commit()); err != nil {
			return ErrExited
		}
		return nil
	}
	// Ready first, then the reader: starting a goroutine may wake another
	// thread, and the ready record should not wait for it.
	if sendReady(conn) != nil {
		return nil // the parent went away
	}
	go func() {
		for {
			m, err := conn.Recv(context.Background())
			if err != nil {
				in.Close(ErrExited)
				return
			}
			r := recReader{b: m.Data}
			for {
				x, ok := r.next()
				if !ok {
					break
				}
				if x.kind == recMessage {
					in.Push(Message{Data: x.payload, Raw: x.sub == 'B'})
				}
			}
		}
	}()
	status, payload := callWorker(ctx, wt, port)
	ob.wait(send(ob, func(b []byte) []byte { return appendKindRec(b, recExit, status, payload) }))
	if status != statusOK {
		v, _, _ := bytesCut(payload, 0)
		return errors.New(string(v))
	}
	return nil
}
