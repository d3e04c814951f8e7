package jobsexec_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobsexec"
)

// A kind whose handler is a Python one-liner: the args come as JSON on
// stdin, the result goes out as JSON on stdout.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "jobsexec-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	c, err := jobs.Open(ctx, jobs.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	r, err := jobsexec.New(jobsexec.Config{Command: []string{"python3", "-c", `
import json, sys
a = json.load(sys.stdin)
print('{"progress": 0.5, "note": "measuring"}', file=sys.stderr)
print(json.dumps({"area": a["width"] * a["height"]}))
`}})
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	jobsexec.Register(c, "area", r)

	wctx, stop := context.WithCancel(ctx)
	worked := make(chan error, 1)
	go func() { worked <- c.Work(wctx, jobs.WorkOptions{}) }()
	defer func() { stop(); <-worked }()

	id, err := c.Submit(ctx, "area", map[string]int{"width": 6, "height": 7}, jobs.SubmitOptions{})
	if err != nil {
		log.Fatal(err)
	}
	info, err := c.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.State, string(info.Result), info.Note)
	// Output: succeeded {"area":42} measuring
}

func ExampleParseProgress() {
	for _, line := range []string{
		`{"progress": 0.25, "note": "resized 1 of 4"}`,
		`resizing cat.png`,
		`{"progress": 25}`,
	} {
		p, ok, err := jobsexec.ParseProgress([]byte(line))
		fmt.Println(p, ok, err)
	}
	// Output:
	// {0.25 resized 1 of 4} true <nil>
	// {0 } false <nil>
	// {0 } true jobsexec: "progress" must be a number from 0 to 1, such as {"progress":0.5}; got "25" in "{\"progress\": 25}"
}
