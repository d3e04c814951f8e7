package jobsnode

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestElectionTimeout SIGKILLs the node that leads the most of six R3
// streams and times the first new leader of one of them. With
// nats-server's own timing a follower waits 4–9 s from the dead leader's
// last heartbeat (sent at most a second before the kill), so no stream
// can be led again within 3 s of the kill; with ElectionTimeout at
// MinElectionTimeout (1.5–3 s from that heartbeat) the first of several
// is. It fails if Start's setting stops reaching nats-server's raft.
func TestElectionTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	names := []string{"n1", "n2", "n3"}
	var clients, routes []string
	for range names {
		clients = append(clients, "127.0.0.1:"+strconv.Itoa(testutil.FreePort(t)))
		routes = append(routes, "127.0.0.1:"+strconv.Itoa(testutil.FreePort(t)))
	}
	procs := map[string]*exec.Cmd{}
	ready := make(chan string, len(names))
	for i, name := range names {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), nodeEnv+"="+strings.Join([]string{name, filepath.Join(dir, name), clients[i], routes[i], strings.Join(routes, ","), MinElectionTimeout.String()}, " "))
		var stderr testutil.SyncBuffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() && stderr.String() != "" {
				t.Logf("%s's stderr:\n%s", name, stderr.String())
			}
		})
		procs[name] = cmd
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ready" {
					ready <- name
				}
			}
		}()
	}
	for range names {
		select {
		case <-ready:
		case <-ctx.Done():
			t.Fatal("the three nodes were not ready within 3 minutes")
		}
	}

	var urls []string
	for _, c := range clients {
		urls = append(urls, "nats://"+c)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	const streams = 6
	for i := range streams {
		name := "S" + strconv.Itoa(i)
		for {
			_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{"s" + strconv.Itoa(i) + ".>"}, Replicas: 3})
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// Wait until every stream has a leader and two current followers, and
	// pick the node that leads the most of them.
	led := map[string][]string{}
	for i := range streams {
		name := "S" + strconv.Itoa(i)
		for {
			lead := streamLeader(ctx, js, name)
			if lead != "" {
				led[lead] = append(led[lead], name)
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: no leader with two current followers", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	victim := ""
	for _, n := range names {
		if victim == "" || len(led[n]) > len(led[victim]) {
			victim = n
		}
	}
	mine := map[string]bool{}
	for _, s := range led[victim] {
		mine[s] = true
	}

	// Watch the elections from a node that stays.
	var other string
	for i, n := range names {
		if n != victim {
			other = urls[i]
			break
		}
	}
	watch, err := nats.Connect(other)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	elected := make(chan *nats.Msg, 64)
	sub, err := watch.ChanSubscribe("$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.>", elected)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	if err := procs[victim].Process.Kill(); err != nil {
		t.Fatal(err)
	}
	const bound = 3 * time.Second
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-elected:
			var adv struct {
				Stream string `json:"stream"`
				Leader string `json:"leader"`
			}
			if json.Unmarshal(m.Data, &adv) != nil || !mine[adv.Stream] || adv.Leader == victim {
				continue
			}
			took := time.Since(killed)
			t.Logf("killed %s (leader of %v); %s led again by %s after %v", victim, led[victim], adv.Stream, adv.Leader, took.Round(time.Millisecond))
			if took >= bound {
				t.Fatalf("the first of %s's streams was led again %v after the kill, want under %v: nats-server's own 4–9 s election timer is in force (does raftMinElection still link to server.minElectionTimeout?)", victim, took.Round(time.Millisecond), bound)
			}
			return
		case <-timeout:
			t.Fatalf("none of %v was led again within 20 s of killing %s", led[victim], victim)
		}
	}
}

// streamLeader is the stream's leader once it has two current followers;
// "" before that.
func streamLeader(ctx context.Context, js jetstream.JetStream, name string) string {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(rctx, name)
	if err != nil {
		return ""
	}
	ci := s.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		return ""
	}
	current := 0
	for _, r := range ci.Replicas {
		if r.Current {
			current++
		}
	}
	if current < 2 {
		return ""
	}
	return ci.Leader
}
