package jobsexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/ipc"
)

// jobMessage is what a command that talks in messages gets for each job:
// one JSON line on stdin, or one Node IPC message.
type jobMessage struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"max_attempts"`
	Args        json.RawMessage `json:"args"`
}

// drainWait bounds how long the reader of a Node channel may take to hand
// over the messages of a process that exited, when something else still
// holds the channel's other end.
const drainWait = time.Second

// session is one process that takes jobs as messages: kept (Config.Keep),
// or started for one job over the Node channel.
//
// The process's readers (the stdout and stderr copies of child, and the
// channel reader) hand what they read to the attempt in cur. exited is
// closed once the process is reaped and every byte it wrote has been
// handed over.
type session struct {
	r      *Runner
	p      *child.Process
	kill   context.CancelFunc // ends the process group (KillSignal, then SIGKILL)
	conn   *ipc.Conn          // TransportIPC
	stdin  io.WriteCloser     // TransportStdio
	exited chan struct{}
	who    string // "pid N"

	mu  sync.Mutex
	cur *attempt
	tl  tail
}

// start starts a process with env.
func (r *Runner) start(env []string) (*session, error) {
	pctx, kill := context.WithCancel(context.Background())
	s := &session{r: r, kill: kill, exited: make(chan struct{}), tl: tail{max: r.cfg.StderrTail}}
	errw := newLineWriter(MaxLine, s.onStderr)
	opts := &child.Options{Dir: r.cfg.Dir, Env: env, Stderr: errw, KillGrace: r.cfg.KillGrace}
	var (
		outw *lineWriter
		err  error
	)
	if r.trans == TransportIPC {
		outw = newLineWriter(MaxLine, s.onLog)
		opts.Stdout = outw
		opts.Channel = ipc.Options{Mode: ipc.ModeNode, MaxMessageSize: r.cfg.MaxResult + 64<<10}
		s.p, err = child.Fork(pctx, r.cfg.Command[0], r.cfg.Command[1:], opts)
	} else {
		outw = newLineWriter(r.cfg.MaxResult, s.onStdout)
		opts.Stdout = outw
		s.p, err = child.Spawn(pctx, r.cfg.Command[0], r.cfg.Command[1:], opts)
	}
	if err != nil {
		kill()
		return nil, err
	}
	s.who = "pid " + strconv.Itoa(s.p.Pid)
	s.conn, s.stdin = s.p.Channel, s.p.Stdin
	read := make(chan struct{})
	if s.conn != nil {
		go s.read(read)
	} else {
		close(read)
	}
	go func() {
		<-s.p.Done()
		select {
		case <-read:
		case <-time.After(drainWait):
			_ = s.conn.Close()
			<-read
		}
		if s.conn != nil {
			_ = s.conn.Close()
		}
		outw.Close() // a last line without "\n"
		errw.Close()
		kill()
		close(s.exited)
	}()
	return s, nil
}

// read hands each message of the Node channel to onMessage until the
// channel ends.
func (s *session) read(done chan<- struct{}) {
	defer close(done)
	for {
		m, err := s.conn.Recv(context.Background())
		if err != nil {
			if !errors.Is(err, ipc.ErrDisconnected) && !errors.Is(err, ipc.ErrClosed) {
				s.protocol(fmt.Errorf("%w: the Node channel: %v", ErrProtocol, err))
			}
			return
		}
		if c, ok := m.Handle.(io.Closer); ok {
			_ = c.Close() // herd takes no handles from a job
		}
		s.onMessage(m.Data, false)
	}
}

// protocol fails the running attempt with err, or warns between jobs.
func (s *session) protocol(err error) {
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	if a != nil {
		a.fail(err)
		return
	}
	s.r.warn("%s: %v", s.who, err)
}

// onMessage handles a reply (a stdout line, or a channel message). What
// is not a reply is logged (a stdout line) or dropped (a message).
func (s *session) onMessage(b []byte, logOther bool) {
	rep, ok, err := ParseReply(b)
	if !ok {
		if logOther {
			s.onLog(b, false)
		}
		return
	}
	if err != nil {
		s.protocol(err)
		return
	}
	s.mu.Lock()
	a := s.cur
	s.mu.Unlock()
	switch {
	case a == nil:
		s.r.warn("%s: dropped a reply that came while no job was running: %s", s.who, excerpt(b))
	case rep.ID != "" && rep.ID != a.job.ID:
		s.r.warn("%s: dropped a reply for job %s while it runs job %s", s.who, rep.ID, a.job.ID)
	case rep.Progress != nil:
		a.progress(*rep.Progress)
	default:
		a.answer(rep)
	}
}

// onStdout handles a line of a kept command's stdout.
func (s *session) onStdout(line []byte, truncated bool) {
	if truncated {
		s.protocol(&ProtocolError{Problem: fmt.Sprintf("a stdout line passed %d bytes (Config.MaxResult); write big results to a file and return its name", s.r.cfg.MaxResult)})
		return
	}
	s.onMessage(line, true)
}

// onStderr handles a stderr line: progress, or log.
func (s *session) onStderr(line []byte, truncated bool) {
	if !truncated {
		if p, ok, err := ParseProgress(line); ok {
			s.mu.Lock()
			a := s.cur
			s.mu.Unlock()
			switch {
			case err != nil:
				s.r.warn("%s: %v", s.who, err)
			case a != nil:
				a.progress(p)
			}
			return
		}
	}
	s.logLine(line, true)
}

// onLog writes a stdout line that is not a reply to Output.
func (s *session) onLog(line []byte, _ bool) { s.logLine(line, false) }

// logLine writes a log line to Output and, from stderr during an attempt,
// keeps it in the tail that the attempt's error carries. Stdout stays out
// of the tail: it is read apart from stderr, so its lines would land among
// stderr's in no fixed order.
func (s *session) logLine(line []byte, stderr bool) {
	s.mu.Lock()
	who := s.who
	if s.cur != nil {
		who = "job " + s.cur.job.ID
		if stderr {
			s.tl.add(line)
		}
	}
	s.mu.Unlock()
	s.r.log(who, line)
}

// send writes the job to the process.
func (s *session) send(ctx context.Context, m jobMessage) error {
	if s.conn != nil {
		return s.conn.Send(ctx, m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = s.stdin.Write(append(b, '\n'))
	return err
}

// stop kills the process group and waits until it is reaped.
func (s *session) stop() {
	s.kill()
	<-s.exited
}

// shutdown ends the process's input (stdin, or the channel), gives it
// KillGrace to exit, then stops it.
func (s *session) shutdown() {
	if s.conn != nil {
		_ = s.conn.Close()
	} else if s.stdin != nil {
		_ = s.stdin.Close()
	}
	select {
	case <-s.exited:
	case <-time.After(s.r.cfg.KillGrace):
	}
	s.stop()
}

// status is how the process ended; call after exited is closed.
func (s *session) status() child.ExitStatus {
	var ee *child.ExitError
	if err := s.p.Wait(); errors.As(err, &ee) {
		return ee.ExitStatus
	}
	return child.ExitStatus{}
}

// take returns an idle kept process that is still alive, or starts one.
func (r *Runner) take(a *attempt) (*session, error) {
	if !r.cfg.Keep {
		return r.start(r.env(a.job))
	}
	r.mu.Lock()
	for len(r.idle) > 0 {
		s := r.idle[len(r.idle)-1]
		r.idle = r.idle[:len(r.idle)-1]
		select {
		case <-s.exited:
			s.kill()
			continue
		default:
		}
		r.mu.Unlock()
		return s, nil
	}
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	env := r.cfg.Env
	if env == nil {
		env = os.Environ()
	}
	return r.start(env)
}

// put keeps s for the next job, or shuts it down once the Runner is
// closed.
func (r *Runner) put(s *session) {
	r.mu.Lock()
	if !r.closed {
		r.idle = append(r.idle, s)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	s.shutdown()
}

// message runs an attempt on a process that takes jobs as messages.
func (r *Runner) message(ctx context.Context, a *attempt) (json.RawMessage, error) {
	s, err := r.take(a)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cur = a
	s.tl.reset()
	s.mu.Unlock()

	sctx, stopSend := context.WithCancel(ctx)
	sent := make(chan error, 1)
	go func() {
		sent <- s.send(sctx, jobMessage{ID: a.job.ID, Kind: a.job.Kind, Queue: a.job.Queue, Attempt: a.job.Attempt, MaxAttempts: a.job.MaxAttempts, Args: a.job.Args})
	}()
	var (
		res     json.RawMessage
		aerr    error
		healthy = true
		sendErr error
		sending = sent
	)
wait:
	for {
		select {
		case rep := <-a.reply:
			res, aerr = reply(rep)
			break wait
		case aerr = <-a.bad:
			healthy = false
			break wait
		case <-s.exited:
			select {
			case rep := <-a.reply: // answered, then exited
				res, aerr = reply(rep)
			default:
				e := &ExitError{Cmd: r.cmd, ExitStatus: s.status()}
				if sendErr != nil {
					e.Reason = fmt.Errorf("sending the job: %w", sendErr)
				}
				aerr = e
			}
			healthy = false
			break wait
		case <-ctx.Done():
			s.stop()
			aerr = &ExitError{Cmd: r.cmd, ExitStatus: s.status(), Reason: killed(ctx)}
			healthy = false
			break wait
		case sendErr = <-sending:
			sending = nil
			if sendErr != nil {
				// The process is going away or broke the channel: its exit
				// tells why. Wait for it, within the attempt.
				s.kill()
			}
		}
	}
	if sending != nil {
		// It answered before the write of the job returned: give the write
		// a moment; if it still hangs, the process did not read the whole
		// job, and is not trusted with another one.
		select {
		case sendErr = <-sending:
		case <-time.After(r.cfg.KillGrace):
			healthy = false
			s.kill()
			sendErr = <-sending
		}
		if sendErr != nil {
			healthy = false
		}
	}
	stopSend()
	s.mu.Lock()
	s.cur = nil
	st := s.tl.String()
	s.mu.Unlock()
	switch e := aerr.(type) {
	case *ExitError:
		e.Stderr = st
	case *ReplyError:
		e.Stderr = st
	}
	if healthy && r.cfg.Keep {
		r.put(s)
	} else if healthy {
		s.shutdown()
	} else {
		s.stop()
	}
	return res, aerr
}

// reply turns a reply into the attempt's outcome.
func reply(rep Reply) (json.RawMessage, error) {
	if rep.IsResult() {
		return rep.Result, nil
	}
	return nil, &ReplyError{Message: rep.Error, Permanent: rep.Permanent}
}
