package jobs

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
)

// tcpProxy forwards loopback connections to a NATS server and can hold
// the bytes of one direction (queued in order, not forwarded) and cut every
// connection (what is held is lost): a request or a reply that never
// arrives, on real sockets.
type tcpProxy struct {
	ln    net.Listener
	to    string
	wg    sync.WaitGroup
	mu    sync.Mutex
	hold  [2]bool // up (client to server), down
	conns []*proxyConn
}

const (
	up   = 0
	down = 1
)

type proxyConn struct {
	side [2]net.Conn // the connection each direction writes to: server, client
	q    [2][][]byte // held chunks
}

func startProxy(t *testing.T, to string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, to: to}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *tcpProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		pc := &proxyConn{side: [2]net.Conn{s, c}}
		p.mu.Lock()
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pump(pc, up, c)
		go p.pump(pc, down, s)
	}
}

// pump reads src and writes what it reads to pc.side[dir], or queues it
// while dir is held.
func (p *tcpProxy) pump(pc *proxyConn, dir int, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			if p.hold[dir] || len(pc.q[dir]) > 0 {
				pc.q[dir] = append(pc.q[dir], bytes.Clone(buf[:n]))
				p.mu.Unlock()
			} else {
				p.mu.Unlock()
				if _, err := pc.side[dir].Write(buf[:n]); err != nil {
					return
				}
			}
		}
		if err != nil {
			_ = pc.side[0].Close()
			_ = pc.side[1].Close()
			return
		}
	}
}

// setHold holds dir's bytes (on) or forwards what is held and lets the
// rest through (off).
func (p *tcpProxy) setHold(dir int, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold[dir] = on
	if on {
		return
	}
	for _, pc := range p.conns {
		for _, b := range pc.q[dir] {
			_, _ = pc.side[dir].Write(b)
		}
		pc.q[dir] = nil
	}
}

// held counts the occurrences of s in the bytes held in direction dir.
func (p *tcpProxy) held(dir int, s string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, pc := range p.conns {
		n += bytes.Count(bytes.Join(pc.q[dir], nil), []byte(s))
	}
	return n
}

// cut closes every connection; what is held is lost. New connections
// are held as the directions are.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, pc := range conns {
		_ = pc.side[0].Close()
		_ = pc.side[1].Close()
	}
}

// resendSetup opens a Client on one server (R1, embedded with a listener)
// or on a 3-node cluster (R3), and returns it, a proxy to one server, and
// a function that opens a Client through the proxy. (A Client's connection
// learns the servers' own addresses, so one that reconnects after a cut
// may bypass the proxy: each use of it opens its own.)
func resendSetup(t *testing.T, replicas int) (direct *Client, p *tcpProxy, proxied func(t *testing.T) *Client) {
	t.Helper()
	var cfg Config
	if replicas == 1 {
		direct = open(t, Config{Listen: "127.0.0.1:0"})
		p = startProxy(t, direct.ns.Addr().String())
	} else {
		urls := startCluster(t)
		direct = open(t, Config{URLs: urls, Replicas: 3})
		p = startProxy(t, strings.TrimPrefix(urls[0], "nats://"))
		cfg.Replicas = 3
	}
	cfg.URLs = []string{p.url()}
	return direct, p, func(t *testing.T) *Client { return open(t, cfg) }
}

// writeResult is what statePub.write returned, and when.
type writeResult struct {
	seq  uint64
	err  error
	took time.Duration
}

func goWrite(c *Client, id string, data []byte, rev uint64) <-chan writeResult {
	ch := make(chan writeResult, 1)
	go func() {
		t0 := time.Now()
		seq, err := c.pub.write(id, data, rev)
		ch <- writeResult{seq, err, time.Since(t0)}
	}()
	return ch
}

func testRecord(id, worker string) []byte {
	return (&record{ID: id, Kind: "k", Queue: DefaultQueue, State: StateRunning, Attempt: 1, MaxAttempts: 3, Started: stampNow(), Worker: worker}).encode()
}

// storedOnce checks that key id holds data at revision seq, the last write
// of the whole bucket: it was applied once.
func storedOnce(t *testing.T, c *Client, id string, data []byte, seq uint64) {
	t.Helper()
	ctx := bg(t)
	got, rev, err := c.kvGet(ctx, c.state, c.stateBucket(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rev != seq || !bytes.Equal(got, data) {
		t.Fatalf("key %s: revision %d, %q; want revision %d, %q", id, rev, got, seq, data)
	}
	// Just after a leader change the stream's info may come from a node
	// that has not applied the write yet: wait until it shows seq, then
	// check that nothing was stored after it.
	var last uint64
	testutil.WaitFor(t, "the bucket's info to show the write", func() bool {
		s, err := c.js.Stream(ctx, "KV_"+c.stateBucket())
		if err != nil {
			return false
		}
		last = s.CachedInfo().State.LastSeq
		return last >= seq
	})
	if last != seq {
		t.Fatalf("the bucket's last sequence is %d, want %d: the write was stored again", last, seq)
	}
}

// TestStateResend: a state write whose reply is lost, or whose request is
// held up, is published again long before stateWait, and a copy is
// idempotent: it never stores the record twice, never fails a
// compare-and-swap because its first copy landed, and still fails one that
// another writer won. On one server and on a 3-node cluster, through a
// proxy that holds and cuts the client's connection.
func TestStateResend(t *testing.T) {
	for _, replicas := range []int{1, 3} {
		t.Run(map[int]string{1: "R1", 3: "R3"}[replicas], func(t *testing.T) {
			direct, p, proxied := resendSetup(t, replicas)
			ctx := bg(t)

			t.Run("reply lost", func(t *testing.T) {
				c := proxied(t)
				// The write lands; its reply is held, then lost with the
				// connection. The client reconnects and a copy finds the
				// key moved: its own write, read back.
				id, data := "lost-reply", testRecord("lost-reply", "w1")
				p.setHold(down, true)
				res := goWrite(c, id, data, 0)
				testutil.WaitFor(t, "the write to land", func() bool {
					_, _, err := direct.kvGet(ctx, direct.state, direct.stateBucket(), id)
					return err == nil
				})
				p.cut()
				p.setHold(down, false)
				r := <-res
				if r.err != nil || r.took >= stateWait {
					t.Fatalf("write: revision %d, %v after %v; want its revision well within %v", r.seq, r.err, r.took, stateWait)
				}
				storedOnce(t, direct, id, data, r.seq)
			})

			t.Run("request lost, key taken", func(t *testing.T) {
				c := proxied(t)
				// The write never reaches the store; another writer creates
				// the key meanwhile. A copy is refused and the read-back
				// finds other bytes: the compare-and-swap fails.
				id, data := "lost-request", testRecord("lost-request", "w1")
				p.setHold(up, true)
				res := goWrite(c, id, data, 0)
				testutil.WaitFor(t, "the write to be held", func() bool { return p.held(up, c.stateSubj(id)) > 0 })
				other := testRecord(id, "w2")
				seq, err := direct.state.Create(ctx, id, other)
				if err != nil {
					t.Fatal(err)
				}
				p.cut()
				p.setHold(up, false)
				r := <-res
				if !errWrongRev(r.err) || r.took >= stateWait {
					t.Fatalf("write: revision %d, %v after %v; want a wrong revision within %v", r.seq, r.err, r.took, stateWait)
				}
				storedOnce(t, direct, id, other, seq)
			})

			t.Run("new leader", func(t *testing.T) {
				// The first copy is lost with the connection, and no timed
				// copy follows (the first wait is a minute here): when the
				// state stream announces a new leader, a copy goes at once.
				// On the cluster the leader steps down; the single server
				// has no other, so the test announces one.
				c := proxied(t)
				c.pub.mu.Lock()
				c.pub.first = time.Minute
				c.pub.mu.Unlock()
				id, data := "new-leader", testRecord("new-leader", "w1")
				p.setHold(up, true)
				res := goWrite(c, id, data, 0)
				testutil.WaitFor(t, "the write to be held", func() bool { return p.held(up, c.stateSubj(id)) > 0 })
				p.cut()
				p.setHold(up, false)
				testutil.WaitFor(t, "the client to reconnect", c.nc.IsConnected)
				stream := "KV_" + c.stateBucket()
				newLeader := func() {
					if replicas == 1 {
						_ = direct.nc.Publish("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."+stream, []byte(`{}`))
						return
					}
					_, _ = direct.nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 5*time.Second)
				}
				// Again now and then, in case the announcement came before
				// the client subscribed again after its reconnect.
				tick := time.NewTicker(time.Second)
				defer tick.Stop()
				end := time.After(testutil.WaitTimeout)
				var r writeResult
				for got := false; !got; {
					newLeader()
					select {
					case r = <-res:
						got = true
					case <-tick.C:
					case <-end:
						t.Fatal("no reply to the write after a new leader")
					}
				}
				if r.err != nil || r.took >= stateWait {
					t.Fatalf("write: revision %d, %v after %v; want its revision well within %v", r.seq, r.err, r.took, stateWait)
				}
				storedOnce(t, direct, id, data, r.seq)
			})

			t.Run("request slow", func(t *testing.T) {
				c := proxied(t)
				// The first copy and two more wait in the proxy, then all
				// reach the store in order: the first is stored, the
				// others are refused (still being stored, or moved), and the
				// write succeeds once.
				id, data := "slow", testRecord("slow", "w1")
				p.setHold(up, true)
				res := goWrite(c, id, data, 0)
				testutil.WaitFor(t, "three copies to be held", func() bool { return p.held(up, c.stateSubj(id)) >= 3 })
				p.setHold(up, false)
				r := <-res
				if r.err != nil {
					t.Fatalf("write: %v after %v", r.err, r.took)
				}
				storedOnce(t, direct, id, data, r.seq)
				// A later write on the revision it returned goes through.
				next := testRecord(id, "w1 again")
				seq, err := c.pub.write(id, next, r.seq)
				if err != nil || seq <= r.seq {
					t.Fatalf("the next write: revision %d, %v", seq, err)
				}
			})
		})
	}
}

// TestDepthReadTimesOut: a submit's queue depth check that gets no answer
// in time goes on with the depth last read instead of failing the submit
// (an internal error from `herd jobs submit` on a busy new cluster).
func TestDepthReadTimesOut(t *testing.T) {
	srv := open(t, Config{Listen: "127.0.0.1:0"})
	p := startProxy(t, strings.TrimPrefix(srv.URL(), "nats://"))
	c := open(t, Config{URLs: []string{p.url()}})
	ctx := bg(t)
	if err := c.checkDepth(ctx, DefaultQueue, 1); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.depth[DefaultQueue].read = time.Time{} // stale: the next check reads
	c.mu.Unlock()
	p.setHold(down, true) // no answer comes back
	err := c.checkDepth(ctx, DefaultQueue, 1)
	p.setHold(down, false)
	if err != nil {
		t.Fatalf("depth check with no answer: %v; want the last depth used", err)
	}
}

// TestSubmitResend: a submit whose acknowledgement is lost, or whose
// message never reaches the stream (the work stream's leader died with
// it), is published again well before the caller's deadline, and the
// copies store the job once. Submit and SubmitMany, on one server and on a
// 3-node cluster, through a proxy that holds and cuts the connection.
func TestSubmitResend(t *testing.T) {
	for _, replicas := range []int{1, 3} {
		t.Run(map[int]string{1: "R1", 3: "R3"}[replicas], func(t *testing.T) {
			direct, p, proxied := resendSetup(t, replicas)
			ctx := bg(t)
			stored := func() uint64 {
				t.Helper()
				s, err := direct.js.Stream(ctx, direct.workStream())
				if err != nil {
					t.Fatal(err)
				}
				return s.CachedInfo().State.Msgs
			}
			for _, tc := range []struct {
				name string
				dir  int // the direction held: the acknowledgement (down) or the message (up)
				jobs int // 1: Submit, else SubmitMany
			}{
				{"ack lost", down, 1},
				{"message lost", up, 1},
				{"many, acks lost", down, 20},
				{"many, messages lost", up, 20},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := proxied(t)
					if err := c.Declare(ctx, "k"); err != nil {
						t.Fatal(err)
					}
					// One submit first, so the queue and its depth are known
					// and the submits below send nothing but their jobs.
					if _, err := c.Submit(ctx, "k", nil, SubmitOptions{}); err != nil {
						t.Fatal(err)
					}
					before := stored()
					reqs := make([]Request, tc.jobs)
					for i := range reqs {
						reqs[i] = Request{Kind: "k", Options: SubmitOptions{ID: newID()}}
					}
					p.setHold(tc.dir, true)
					type result struct {
						err  error
						took time.Duration
					}
					res := make(chan result, 1)
					sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					defer cancel()
					go func() {
						t0 := time.Now()
						var err error
						if tc.jobs == 1 {
							_, err = c.Submit(sctx, "k", nil, reqs[0].Options)
						} else {
							_, err = c.SubmitMany(sctx, reqs)
						}
						res <- result{err, time.Since(t0)}
					}()
					if tc.dir == down {
						testutil.WaitFor(t, "the jobs to be stored", func() bool { return stored() == before+uint64(tc.jobs) })
					} else {
						testutil.WaitFor(t, "the jobs to be held", func() bool { return p.held(up, reqs[tc.jobs-1].Options.ID) > 0 })
					}
					p.cut()
					p.setHold(tc.dir, false)
					r := <-res
					if r.err != nil || r.took >= 15*time.Second {
						t.Fatalf("submit: %v after %v; want the jobs stored well within the 30 s deadline", r.err, r.took)
					}
					if got := stored(); got != before+uint64(tc.jobs) {
						t.Fatalf("the work stream holds %d messages, want %d: each job once", got, before+uint64(tc.jobs))
					}
				})
			}
		})
	}
}
