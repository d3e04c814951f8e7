package jobshttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

// The tutorial's answer to heavy work over HTTP: submit a job and get its ID
// at once, then wait for its result with a second request.
func ExampleNew() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, _ := os.MkdirTemp("", "jobshttp-example-")
	defer os.RemoveAll(dir)
	client, err := jobs.Open(ctx, jobs.Config{Dir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	type sum struct{ A, B int }
	jobs.Register(client, "add", func(ctx context.Context, j *jobs.Job[sum]) (int, error) {
		return j.Args.A + j.Args.B, nil
	})
	worked := make(chan error, 1)
	go func() { worked <- client.Work(ctx, jobs.WorkOptions{}) }()
	defer func() { cancel(); <-worked }()

	// Serve the API under /api, as a bigger server would.
	mux := http.NewServeMux()
	mux.Handle("/api/", http.StripPrefix("/api", jobshttp.New(client, jobshttp.Options{})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/api/jobs", "application/json", strings.NewReader(`{"kind":"add","args":{"A":2,"B":3}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var sub jobshttp.SubmitResponse
	json.NewDecoder(resp.Body).Decode(&sub)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Location") == "/api/jobs/"+sub.ID)

	resp, err = http.Get(srv.URL + "/api/jobs/" + sub.ID + "/wait?timeout=30s")
	if err != nil {
		fmt.Println(err)
		return
	}
	var info jobs.Info
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, info.State, string(info.Result))

	resp, _ = http.Post(srv.URL+"/api/jobs", "application/json", strings.NewReader(`{"kind":"add","delay":"soon"}`))
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 202 true
	// 200 succeeded 5
	// 400 {"error":"delay: \"soon\" is not a duration; write one such as \"90s\", \"5m\" or \"1h30m\"","field":"delay"}
}

func ExampleParsePriority() {
	for _, s := range []string{"high", "-1", "urgent"} {
		p, err := jobshttp.ParsePriority(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(jobshttp.PriorityName(p), int(p))
	}
	// Output:
	// high 1
	// low -1
	// "urgent" is not a priority; write low, normal, high or critical (or -1, 0, 1, 2)
}
