package jobshttp_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/herdrun/herd/jobs"
)

// BenchmarkSubmit: POST /jobs over loopback HTTP into an embedded store,
// one request at a time on a kept-alive connection.
func BenchmarkSubmit(b *testing.B) {
	e := newEnv(b, envOptions{})
	benchEnv(b, e, func(c *http.Client) {
		resp, err := c.Post(e.url+"/jobs", "application/json", strings.NewReader(`{"kind":"echo","args":{"text":"x"}}`))
		if err != nil || resp.StatusCode != 202 {
			b.Fatalf("submit: %v %v", resp, err)
		}
		drain(resp)
	})
}

// BenchmarkSubmitWait: submit, then GET /jobs/{id}/wait until the job's
// result, one job at a time: the latency of the "wait for the worker's
// response" path over HTTP.
func BenchmarkSubmitWait(b *testing.B) {
	e := newEnv(b, envOptions{})
	benchEnv(b, e, func(c *http.Client) {
		resp, err := c.Post(e.url+"/jobs", "application/json", strings.NewReader(`{"kind":"echo","args":{"text":"x"}}`))
		if err != nil || resp.StatusCode != 202 {
			b.Fatalf("submit: %v %v", resp, err)
		}
		drain(resp)
		resp, err = c.Get(e.url + resp.Header.Get("Location") + "/wait")
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("wait: %v %v", resp, err)
		}
		drain(resp)
	})
}

func benchEnv(b *testing.B, e *env, op func(*http.Client)) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer c.CloseIdleConnections()
	b.ResetTimer()
	for b.Loop() {
		op(c)
	}
}

// BenchmarkSubmitDirect is BenchmarkSubmit without HTTP: Client.Submit, for
// the cost of the HTTP layer by difference.
func BenchmarkSubmitDirect(b *testing.B) {
	e := newEnv(b, envOptions{})
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.c.Submit(ctx, "echo", json.RawMessage(`{"text":"x"}`), jobs.SubmitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// drain reads the rest of the body, so that the connection is reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
