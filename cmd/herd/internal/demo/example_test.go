package demo_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/herdrun/herd/cmd/herd/internal/demo"
)

func ExampleFormatNumber() {
	fmt.Println(demo.FormatNumber(2.0999999782928874e17))
	tenth, fifth := 0.1, 0.2
	fmt.Println(demo.FormatNumber(tenth + fifth))
	fmt.Println(demo.FormatNumber(1e21))
	// Output:
	// 209999997829288740
	// 0.30000000000000004
	// 1e+21
}

func ExampleHeavyCalculation() {
	r, err := demo.HeavyCalculation(context.Background(), 42, 1000)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("Result is", demo.FormatNumber(r))
	// Output:
	// Result is 20979000
}

func ExampleServer() {
	// The program's main must call demo.Register and child.Dispatch first:
	// /heavy runs in a worker process forked from this binary.
	ln, err := demo.Listen(context.Background(), "127.0.0.1", 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	s := &demo.Server{Limit: 1000} // the tutorial's 1e8 when Limit is 0
	go func() { done <- s.Serve(ctx, ln) }()

	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + ln.Addr().String() + "/heavy")
	if err != nil {
		fmt.Println(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	stop()
	fmt.Println("Serve:", <-done)
	// Output:
	// Result is 20979000
	// Serve: <nil>
}
