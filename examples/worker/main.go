// Command worker is the Node tutorial's worker_threads example in Go:
// runHeavyTask(42) starts a worker with workerData 42 and resolves with
// the result of heavyCalculation, which the worker posts back.
//
//	// main.js                                        // worker.js
//	const worker = new Worker('./worker.js',          const { parentPort, workerData } = ...;
//	    { workerData: data });                        parentPort.postMessage(
//	worker.on('message', resolve);                        heavyCalculation(workerData));
//	worker.on('error', reject);
//
// The worker is a function registered with workers.RegisterThread. It runs
// in a goroutine by default (worker_threads are threads) or, with
// -backend=processes, in a process of its own, a copy of this program; the
// child.Dispatch call at the top of main is what turns such a copy into
// the worker.
//
//	go run ./examples/worker                      # Result: 209999997829288740
//	go run ./examples/worker -backend=processes
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/workers"
)

// heavyCalculation is the tutorial's CPU-bound loop, summed in float64 as
// JavaScript numbers are, so that it prints the number Node prints.
func heavyCalculation(n int) float64 {
	sum := 0.0
	for i := 0; i < 1e8; i++ {
		sum += float64(i * n)
	}
	return sum
}

// jsNumber formats x the way JavaScript's String(x) does for integers
// below 1e21: every digit, no exponent.
func jsNumber(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

// heavyWorker is worker.js: it reads workerData and posts one result.
var heavyWorker = workers.RegisterThread("example.heavy", func(ctx context.Context, port *workers.Port) error {
	var n int
	if err := port.Data(&n); err != nil {
		return err
	}
	return port.Send(ctx, heavyCalculation(n))
})

// runHeavyTask starts a worker with data and returns the first message it
// posts, or how it failed.
func runHeavyTask(ctx context.Context, data int, backend workers.Backend) (float64, error) {
	w, err := workers.Start(ctx, heavyWorker, data, &workers.ThreadOptions{Backend: backend})
	if err != nil {
		return 0, err
	}
	defer w.Terminate()
	m, err := w.Recv(ctx)
	if err != nil {
		<-w.Done()
		if werr := w.Err(); werr != nil {
			return 0, werr // the 'error' or non-zero 'exit' event
		}
		return 0, err
	}
	var result float64
	if err := m.Decode(&result); err != nil {
		return 0, err
	}
	return result, nil
}

func main() {
	child.Dispatch() // in a worker process: run the worker and exit

	backend := flag.String("backend", "goroutines", "where the worker runs: goroutines or processes")
	flag.Parse()
	be := workers.Goroutines
	switch *backend {
	case "goroutines":
	case "processes":
		be = workers.Processes
	default:
		fmt.Fprintf(os.Stderr, "worker: unknown backend %q\n", *backend)
		os.Exit(2)
	}
	result, err := runHeavyTask(context.Background(), 42, be)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
	fmt.Println("Result: " + jsNumber(result))
}
