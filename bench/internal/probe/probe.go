// Package probe asks a benchmarked hello-world server which process
// answered: every server in the cluster benchmarks replies
// "Handled by worker <pid>", as the Node tutorial's cluster example does.
package probe

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

var client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// WhoAnswers sends one GET / to addr on a new connection, within timeout,
// and returns the pid in the "Handled by worker <pid>" reply.
func WhoAnswers(addr string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	return PidOf(string(b))
}

// PidOf parses "Handled by worker <pid>" (surrounding space ignored).
func PidOf(body string) (int, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(body), "Handled by worker ")
	if !ok {
		return 0, fmt.Errorf("unexpected body %q", body)
	}
	return strconv.Atoi(s)
}
