package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// startTimeout bounds how long a database server may take to accept
// connections.
const startTimeout = 60 * time.Second

// dbServer is a database process this benchmark started: redis-server or a
// PostgreSQL postmaster, in a process group of its own with SIGKILL as its
// parent-death signal, so that it never outlives the benchmark.
type dbServer struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	stop   syscall.Signal // the signal for a clean, fast shutdown
}

// missingToolError says that a program a contender needs is not installed,
// and how to install it.
type missingToolError struct {
	Tool, Install string
	Err           error
}

func (e *missingToolError) Error() string {
	return fmt.Sprintf("%s is not installed (%v): %s", e.Tool, e.Err, e.Install)
}

func (e *missingToolError) Unwrap() error { return e.Err }

// Install commands, quoted by error messages, the smoke test and the notes
// for CI.
const (
	installRedis    = "apt-get install -y redis-server"
	installPostgres = "apt-get install -y postgresql-15"
	postgresBin     = "/usr/lib/postgresql/15/bin"
)

// startServer starts cmd (its Stdout and Stderr go to log) and returns once
// ready(ctx) succeeds, polling it every 5 ms for at most startTimeout.
func startServer(ctx context.Context, name string, cmd *exec.Cmd, stop syscall.Signal, log io.Writer, ready func(context.Context) error) (*dbServer, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.Stdout, cmd.Stderr = log, log
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	s := &dbServer{name: name, cmd: cmd, exited: make(chan struct{}), stop: stop}
	go func() { cmd.Wait(); close(s.exited) }()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		err := ready(ctx)
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before accepting connections (%v); see its log", name, err)
		case <-ctx.Done():
			s.Close()
			return nil, fmt.Errorf("%s not ready after %s: %v", name, startTimeout, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Close stops the server with its shutdown signal, and SIGKILLs its process
// group if it has not exited ten seconds later.
func (s *dbServer) Close() error {
	pgid := s.cmd.Process.Pid
	syscall.Kill(pgid, s.stop)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-s.exited
	return nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis runs redis-server on 127.0.0.1 on a free port with its data in
// dir: append-only file on, fsync every second (appendfsync everysec), RDB
// snapshots off, and noeviction (BullMQ requires it), then the extra
// arguments (such as --replicaof HOST PORT). It returns the server and its
// port.
func startRedis(ctx context.Context, dir string, log io.Writer, extra ...string) (*dbServer, int, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, 0, &missingToolError{Tool: "redis-server", Install: installRedis, Err: err}
	}
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", dir,
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--maxmemory-policy", "noeviction", "--daemonize", "no", "--logfile", "")
	cmd.Args = append(cmd.Args, extra...)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s, err := startServer(ctx, "redis-server", cmd, syscall.SIGTERM, log, func(ctx context.Context) error {
		return redisPing(addr)
	})
	return s, port, err
}

// redisPing sends PING to the redis server at addr and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// startPostgres creates a throwaway PostgreSQL 15 cluster in dir (initdb,
// trust authentication) and runs it as the postgres user, listening only on
// a unix socket in dir. Settings are PostgreSQL's defaults, durable ones
// included (fsync on, synchronous_commit on), with max_connections 200. It
// returns the server and a pgx connection string.
func startPostgres(ctx context.Context, dir string, log io.Writer) (*dbServer, string, error) {
	initdb := filepath.Join(postgresBin, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		return nil, "", &missingToolError{Tool: "PostgreSQL 15", Install: installPostgres, Err: err}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, "", &missingToolError{Tool: "the postgres user", Install: installPostgres, Err: err}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cred := &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, "", err
	}
	data := filepath.Join(dir, "data")
	cmd := exec.CommandContext(ctx, initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = cred
	cmd.Env = []string{"LANG=C", "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("initdb: %v\n%s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	pg := exec.Command(filepath.Join(postgresBin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+dir,
		"-c", "max_connections=200", "-c", "synchronous_commit=on", "-c", "fsync=on")
	pg.SysProcAttr = &syscall.SysProcAttr{Credential: cred.Credential}
	pg.Env = []string{"LANG=C"}
	conn := fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres sslmode=disable", dir, port)
	s, err := startServer(ctx, "postgres", pg, syscall.SIGINT, log, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, conn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		return c.Ping(ctx)
	})
	if err != nil {
		return nil, "", err
	}
	return s, conn, nil
}
