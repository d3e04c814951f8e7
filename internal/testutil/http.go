package testutil

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// client is the client Get uses and HTTPClient returns.
var client = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   60 * time.Second, // a hung server fails the test instead of hanging it
}

// HTTPClient returns the client that Get uses: every request goes on a new
// connection that is closed after the response (no idle connection is left
// for goleak to find), and a request, body included, gives up after 60s.
// It is safe for concurrent use.
func HTTPClient() *http.Client { return client }

// Get sends a GET for url with ctx through HTTPClient and returns the status
// code and the whole body. code is 0 if no response arrived; then err says
// why. If the body could not be read to its end, Get returns the code, the
// part of the body read, and the read error.
func Get(ctx context.Context, url string) (code int, body string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// GetOK GETs url as Get does and returns the body. A request that fails, a
// body cut short or a status other than 200 fails t with t.Errorf, which is
// safe from any goroutine; the test goes on with what body was read.
func GetOK(t testing.TB, url string) string {
	t.Helper()
	code, body, err := Get(context.Background(), url)
	switch {
	case err != nil:
		t.Errorf("GET %s: %v", url, err)
	case code != http.StatusOK:
		t.Errorf("GET %s: status %d %s: %s", url, code, http.StatusText(code), body)
	}
	return body
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago: it
// listens on the port and closes the listener. The port is drawn at random
// from below the kernel's ephemeral range (net.ipv4.ip_local_port_range,
// 32768-60999 by default), where the kernel never puts the local end of a
// connection: a port from port 0 came from that range, and the busy
// machine's next outgoing connection could take it before the test's
// server listened. Another test may still take the port before the test
// does. It fails t if it cannot listen.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := freePortLow + rand.IntN(freePortHigh-freePortLow)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// FreePort's range: below the ephemeral ports, above the well-known ones
// and those that servers often take (8080, 9090, …).
const (
	freePortLow  = 20000
	freePortHigh = 32000
)
