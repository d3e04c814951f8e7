package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

// start runs the example until the test ends and returns its URL and a
// function that stops it and returns run's error.
func start(t *testing.T, env map[string]string) (string, func() error) {
	t.Helper()
	url, _, stop := testutil.StartRun(t, run, env, "Server listening on ")
	return url, stop
}

func post(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, nil)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// TestIDOrWait: the two answers of question 7, an ID at once or the
// worker's result.
func TestIDOrWait(t *testing.T) {
	url, stop := start(t, map[string]string{"PORT": "0", "HERD_DEMO_LIMIT": "1000", "JOBS_DIR": t.TempDir()})
	// Wait for the worker's response: 42 * (0 + 1 + ... + 999).
	if code, _, body := post(t, url+"/heavy?wait=1"); code != 200 || body != "Result is 20979000" {
		t.Fatalf("POST /heavy?wait=1 = %d %q", code, body)
	}
	// Or an ID at once, and the result from the jobs API later.
	code, h, body := post(t, url+"/heavy")
	var sub struct{ ID string }
	if err := json.Unmarshal([]byte(body), &sub); code != 202 || err != nil || h.Get("Location") != "/jobs/"+sub.ID {
		t.Fatalf("POST /heavy = %d %q (Location %q)", code, body, h.Get("Location"))
	}
	code, body, err := testutil.Get(context.Background(), url+"/jobs/"+sub.ID+"/wait?timeout=60s")
	var info jobs.Info
	if err != nil || code != 200 || json.Unmarshal([]byte(body), &info) != nil || info.State != jobs.StateSucceeded || string(info.Result) != "20979000" {
		t.Fatalf("wait = %d %s %v", code, body, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}

// TestSurvivesRestart: a finished job can still be read after a restart.
func TestSurvivesRestart(t *testing.T) {
	env := map[string]string{"PORT": "0", "HERD_DEMO_LIMIT": "1000", "JOBS_DIR": t.TempDir()}
	url, stop := start(t, env)
	_, _, body := post(t, url+"/heavy")
	var sub struct{ ID string }
	json.Unmarshal([]byte(body), &sub)
	if code, body, err := testutil.Get(context.Background(), url+"/jobs/"+sub.ID+"/wait?timeout=60s"); code != 200 || err != nil {
		t.Fatalf("wait = %d %s %v", code, body, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	url, _ = start(t, env)
	code, body, err := testutil.Get(context.Background(), url+"/jobs/"+sub.ID)
	var info jobs.Info
	if err != nil || code != 200 || json.Unmarshal([]byte(body), &info) != nil || info.State != jobs.StateSucceeded || string(info.Result) != "20979000" {
		t.Fatalf("the job after a restart: %d %s %v", code, body, err)
	}
}

// TestStoreFromEnv: HERD_JOBS_NATS puts the jobs on the NATS server it
// names (here an embedded one listening on loopback), as herd.yaml's
// jobs: block does for the apps herd runs.
func TestStoreFromEnv(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store, err := jobs.Open(ctx, jobs.Config{Dir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	url, stop := start(t, map[string]string{"PORT": "0", "HERD_DEMO_LIMIT": "1000", "JOBS_DIR": t.TempDir(), jobs.EnvNATS: store.URL()})
	_, _, body := post(t, url+"/heavy")
	var sub struct{ ID string }
	if err := json.Unmarshal([]byte(body), &sub); err != nil {
		t.Fatalf("submit: %s", body)
	}
	info, err := store.Wait(ctx, sub.ID)
	if err != nil || info.State != jobs.StateSucceeded || string(info.Result) != "20979000" {
		t.Fatalf("the job in the store HERD_JOBS_NATS names: %+v, %v", info, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
}
