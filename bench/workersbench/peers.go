package main

import (
	"runtime"
	"sync"
	"time"

	"github.com/alitto/pond/v2"
	"github.com/panjf2000/ants/v2"
)

// Go peers: each runs n tasks of fn on a pool of runtime.NumCPU() workers
// and returns the seconds it took, pool start-up excluded.

func antsRun(n int, fn func()) float64 {
	p, err := ants.NewPool(runtime.NumCPU())
	if err != nil {
		fatal(err)
	}
	defer p.Release()
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		if err := p.Submit(func() { fn(); wg.Done() }); err != nil {
			fatal(err)
		}
	}
	wg.Wait()
	return time.Since(start).Seconds()
}

func pondRun(n, window int, fn func()) float64 {
	p := pond.NewPool(runtime.NumCPU())
	defer p.StopAndWait()
	ts := make([]pond.Task, window)
	start := time.Now()
	for i := range n {
		k := i % window
		if ts[k] != nil {
			ts[k].Wait()
		}
		ts[k] = p.Submit(fn)
	}
	for _, t := range ts {
		if t != nil {
			t.Wait()
		}
	}
	return time.Since(start).Seconds()
}

// floorRun is the bare goroutine floor: one goroutine per task.
func floorRun(n int, fn func()) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() { fn(); wg.Done() }()
	}
	wg.Wait()
	return time.Since(start).Seconds()
}
