package contender_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/herdrun/herd/bench/internal/contender"
)

// A process that prints READY once it serves is started in a process group
// of its own; Stop ends the whole group.
func ExampleProc() {
	addr, _, err := contender.FreeAddr()
	if err != nil {
		fmt.Println(err)
		return
	}
	// A stand-in for a server: it prints READY and waits.
	cmd := exec.Command("sh", "-c", "echo READY; exec sleep 60")
	s, err := contender.Proc{Name: "stand-in", Addr: addr, Cmd: cmd, Ready: contender.ReadyLine}.Start(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Stop()
	fmt.Println(s.Name, "started")
	// Output: stand-in started
}

// StartAll starts contenders in order; if one fails, those already started
// are stopped and its error is returned.
func ExampleStartAll() {
	ok := func() (*contender.Server, error) { return &contender.Server{Name: "first"}, nil }
	bad := func() (*contender.Server, error) { return nil, errors.New("second: would not start") }
	_, stop, err := contender.StartAll(ok, bad)
	defer stop()
	fmt.Println(err)
	// Output: second: would not start
}
