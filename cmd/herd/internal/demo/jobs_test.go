package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdrun/herd/internal/testutil"
	"github.com/herdrun/herd/jobs"
)

// startJobs opens jobs in dir ("" for a temporary one) with their workers,
// closed when the test ends.
func startJobs(t *testing.T, dir string) *Jobs {
	t.Helper()
	j, err := OpenJobs(context.Background(), JobsOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	worked := make(chan error, 1)
	go func() { worked <- j.Work(ctx, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-worked; err != nil {
			t.Errorf("Work: %v", err)
		}
		if err := j.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return j
}

func httpDo(t *testing.T, method, url, body string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequestWithContext(ctx, method, url, rd)
	resp, err := testutil.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestServerJobs: the fork server with jobs runs a resize job end to end
// and serves its image; the image of a job that has not succeeded is a
// clear error.
func TestServerJobs(t *testing.T) {
	j := startJobs(t, "")
	url, _ := startServer(t, &Server{Limit: 1000, Jobs: j.Handler()})
	code, h, b := httpDo(t, "POST", url+"/jobs", `{"kind":"resize","args":{"width":40}}`)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, b)
	}
	var sub struct{ ID string }
	json.Unmarshal(b, &sub)
	if h.Get("Location") != "/jobs/"+sub.ID {
		t.Fatalf("Location %q", h.Get("Location"))
	}
	code, _, b = httpDo(t, "GET", url+"/jobs/"+sub.ID+"/wait?timeout=60s", "")
	var info jobs.Info
	if err := json.Unmarshal(b, &info); err != nil || code != 200 || info.State != jobs.StateSucceeded {
		t.Fatalf("wait: %d %.300s", code, b)
	}
	code, h, b = httpDo(t, "GET", url+"/resized/"+sub.ID, "")
	if code != 200 || h.Get("Content-Type") != "image/png" {
		t.Fatalf("resized: %d %q", code, h.Get("Content-Type"))
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 40 || img.Bounds().Dy() != 30 {
		t.Fatalf("resized image: %v %v", err, img)
	}
	// The queues in Prometheus text: the job counted as succeeded.
	code, _, b = httpDo(t, "GET", url+"/metrics", "")
	if code != 200 || !regexp.MustCompile(`(?m)^herd_jobs_completed_total\{outcome="succeeded",queue="[a-z]+"\} 1$`).Match(b) {
		t.Fatalf("metrics: %d\n%s", code, b)
	}
	// A slow job: cancelled while it runs, it has no image.
	code, _, b = httpDo(t, "POST", url+"/jobs", `{"kind":"resize","args":{"pause":"10s"}}`)
	if code != 202 {
		t.Fatalf("submit: %d %s", code, b)
	}
	json.Unmarshal(b, &sub)
	testutil.WaitFor(t, "the slow job to run", func() bool {
		i, err := j.Client.Get(context.Background(), sub.ID)
		return err == nil && i.State == jobs.StateRunning
	})
	if code, _, b = httpDo(t, "GET", url+"/resized/"+sub.ID, ""); code != 409 || !bytes.Contains(b, []byte("is running, so it has no image")) {
		t.Fatalf("resized of a running job: %d %s", code, b)
	}
	if code, _, b = httpDo(t, "POST", url+"/jobs/"+sub.ID+"/cancel", ""); code != 200 {
		t.Fatalf("cancel: %d %s", code, b)
	}
	code, _, b = httpDo(t, "GET", url+"/jobs/"+sub.ID+"/wait", "")
	if json.Unmarshal(b, &info); code != 200 || info.State != jobs.StateCancelled {
		t.Fatalf("after cancel: %d %.300s", code, b)
	}
	if code, _, b = httpDo(t, "GET", url+"/resized/01NOSUCHJOB", ""); code != 404 {
		t.Fatalf("resized of no job: %d %s", code, b)
	}
	// The rest of the demo is still there.
	if code, _, b = httpDo(t, "GET", url+"/", ""); code != 200 || string(b) != "OK" {
		t.Fatalf("GET /: %d %s", code, b)
	}
}

// TestJobsDirLock: a directory in use by one demo is refused to a second
// with an error that says what to do; once the first closes, it opens, and
// finds the jobs of the first.
func TestJobsDirLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "jobs")
	first, err := OpenJobs(context.Background(), JobsOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	id, err := first.Client.Submit(context.Background(), ResizeKind, ResizeArgs{}, jobs.SubmitOptions{Queue: "later"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = OpenJobs(context.Background(), JobsOptions{Dir: dir})
	want := dir + ": the jobs directory is in use by another herd demo (pid " + strconv.Itoa(os.Getpid()) + "); stop that demo, or give this one another --jobs-dir"
	if !errors.Is(err, ErrJobsDirInUse) || err.Error() != want {
		t.Fatalf("second open: %v\nwant: %s", err, want)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a --jobs-dir was removed at Close: %v", err)
	}
	second, err := OpenJobs(context.Background(), JobsOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	info, err := second.Client.Get(context.Background(), id)
	if err != nil || info.State != jobs.StateQueued {
		t.Fatalf("the job after a restart: %+v, %v", info, err)
	}
}

// TestJobsTempDirRemoved: without a directory, the jobs live in a temporary
// one that Close removes.
func TestJobsTempDirRemoved(t *testing.T) {
	j, err := OpenJobs(context.Background(), JobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := j.Dir()
	if !j.Temporary() || !strings.Contains(dir, "herd-demo-jobs-") {
		t.Fatalf("dir %q, temporary %v", dir, j.Temporary())
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s after Close: %v", dir, err)
	}
}

// TestUpload: an uploaded image is resized instead of the generated one;
// what is not an image, too large, or a bad size is refused by name.
func TestUpload(t *testing.T) {
	j := startJobs(t, "")
	url, _ := startServer(t, &Server{Limit: 1000, Jobs: j.Handler()})
	var src bytes.Buffer
	png.Encode(&src, SourceImage(100, 50))
	code, h, b := httpDo(t, "POST", url+"/resize-upload?width=20", src.String())
	var sub struct{ ID string }
	if json.Unmarshal(b, &sub); code != 202 || h.Get("Location") != "/jobs/"+sub.ID {
		t.Fatalf("upload: %d %s", code, b)
	}
	code, _, b = httpDo(t, "GET", url+"/jobs/"+sub.ID+"/wait?timeout=60s", "")
	var info jobs.Info
	if json.Unmarshal(b, &info); code != 200 || info.State != jobs.StateSucceeded {
		t.Fatalf("wait: %d %.300s", code, b)
	}
	_, _, b = httpDo(t, "GET", url+"/resized/"+sub.ID, "")
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 20 || img.Bounds().Dy() != 10 {
		t.Fatalf("the resized upload: %v, %d bytes; want a 20x10 PNG (the upload's 2:1)", err, len(b))
	}
	for _, c := range []struct {
		name, query, body string
		code              int
		want              string
	}{
		{"not an image", "", "hello", 400, "not a PNG, JPEG or GIF image"},
		{"bad width", "?width=wide", src.String(), 400, `width: \"wide\"; write a whole number from 1 to 4096`},
		{"unknown parameter", "?w=1", src.String(), 400, `\"w\": unknown parameter`},
		{"too large", "", strings.Repeat("x", MaxUploadBytes+1), 413, "larger than 8 MiB"},
	} {
		code, _, b := httpDo(t, "POST", url+"/resize-upload"+c.query, c.body)
		if code != c.code || !strings.Contains(string(b), c.want) {
			t.Errorf("%s: %d %s, want %d and %q", c.name, code, b, c.code, c.want)
		}
	}
	// A name that is not an upload's fails the job, naming the field.
	id, err := j.Client.Submit(context.Background(), ResizeKind, ResizeArgs{Upload: "../../etc/passwd"}, jobs.SubmitOptions{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	info, err = j.Client.Wait(context.Background(), id)
	if err != nil || info.State != jobs.StateFailed || !strings.Contains(info.Error, "args.upload") {
		t.Fatalf("a job with a bad upload name: %+v %v", info, err)
	}
}
