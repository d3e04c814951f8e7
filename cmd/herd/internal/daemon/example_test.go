package daemon_test

import (
	"fmt"

	"github.com/herdrun/herd/cmd/herd/internal/daemon"
)

// The files of a state directory.
func ExampleHomeAt() {
	h := daemon.HomeAt("/home/ann/.herd")
	fmt.Println(h.Sock)
	fmt.Println(h.Logs)
	fmt.Println(h.Dump)
	// Output:
	// /home/ann/.herd/herd.sock
	// /home/ann/.herd/logs
	// /home/ann/.herd/dump.json
}

// herd signal takes a signal by name, with or without SIG, or by number.
func ExampleParseSignal() {
	for _, s := range []string{"SIGUSR2", "usr2", "12", "BOGUS"} {
		sig, err := daemon.ParseSignal(s)
		fmt.Println(int(sig), err)
	}
	// Output:
	// 12 <nil>
	// 12 <nil>
	// 12 <nil>
	// 0 unknown signal "BOGUS": give a name such as SIGUSR2 (or USR2) or a number
}
