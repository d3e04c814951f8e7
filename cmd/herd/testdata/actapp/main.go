// Command actapp is a socket-activated HTTP server for herd's tests: it
// serves on the inherited fd 3 (LISTEN_FDS), answers "go <instance>", and on
// SIGTERM stops accepting and finishes its requests in flight. With
// -notify it sends READY=1 to $NOTIFY_SOCKET once serving; with -hold it
// keeps the socket and never serves; with -fail-if FILE it exits 1 after
// its start-up time when FILE exists (a bad deploy).
package main

import (
	"context"
	"flag"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	notify := flag.Bool("notify", false, "send READY=1 to $NOTIFY_SOCKET once serving")
	delay := flag.Duration("delay", 0, "start-up time before serving")
	hold := flag.Bool("hold", false, "hold the socket without serving")
	failIf := flag.String("fail-if", "", "exit 1 after the start-up time if this file exists")
	flag.Parse()
	time.Sleep(*delay)
	if *failIf != "" {
		if _, err := os.Stat(*failIf); err == nil {
			os.Stderr.WriteString("actapp: bad deploy\n")
			os.Exit(1)
		}
	}
	if *hold {
		time.Sleep(time.Minute)
		return
	}
	if os.Getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) || os.Getenv("LISTEN_FDS") != "1" {
		os.Stderr.WriteString("actapp: no socket from LISTEN_FDS\n")
		os.Exit(2)
	}
	ln, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		os.Stderr.WriteString("actapp: " + err.Error() + "\n")
		os.Exit(2)
	}
	body := "go " + os.Getenv("HERD_INSTANCE")
	// open counts connections not yet closed. On SIGTERM the server stops
	// accepting, turns keep-alives off (every response then closes its
	// connection) and exits once no connection is left, without
	// http.Server.Shutdown, which can close a just-accepted connection
	// before it reads the request.
	var open atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(body))
		}),
		ConnState: func(c net.Conn, s http.ConnState) {
			switch s {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.SetKeepAlivesEnabled(false)
		ln.Close() // stop accepting; the shared socket stays open in herd
	}()
	if *notify {
		go func() {
			time.Sleep(10 * time.Millisecond) // Serve is accepting by now
			c, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
			if err == nil {
				c.Write([]byte("STATUS=serving\nREADY=1"))
				c.Close()
			}
		}()
	}
	// Serve returns after its accept loop saw the closed listener, so every
	// connection it accepted has been counted by then.
	srv.Serve(ln)
	for end := time.Now().Add(5 * time.Second); open.Load() > 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
}
