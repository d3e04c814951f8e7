package child

import (
	"fmt"
	"syscall"
	"testing"
)

func TestExitStatus(t *testing.T) {
	cases := []struct {
		s               ExitStatus
		str             string
		exited, success bool
	}{
		{ExitStatus{}, "exited with code 0", true, true},
		{ExitStatus{Code: 3}, "exited with code 3", true, false},
		{ExitStatus{Code: -1, Signal: syscall.SIGKILL}, "killed by SIGKILL", false, false},
		{ExitStatus{Code: -1, Signal: syscall.SIGUSR1}, "killed by SIGUSR1", false, false},
		{ExitStatus{Code: -1, Signal: syscall.Signal(99)}, "killed by signal 99", false, false},
	}
	for _, c := range cases {
		if got := c.s.String(); got != c.str {
			t.Errorf("%#v.String() = %q, want %q", c.s, got, c.str)
		}
		if got := c.s.Exited(); got != c.exited {
			t.Errorf("%#v.Exited() = %v, want %v", c.s, got, c.exited)
		}
		if got := c.s.Success(); got != c.success {
			t.Errorf("%#v.Success() = %v, want %v", c.s, got, c.success)
		}
	}
}

// TestSignalNameComplete: every signal Linux numbers has its C name, not
// only the few that kill processes most often.
func TestSignalNameComplete(t *testing.T) {
	want := map[syscall.Signal]string{
		syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT",
		syscall.SIGILL: "SIGILL", syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT",
		syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE", syscall.SIGKILL: "SIGKILL",
		syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
		syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM",
		syscall.SIGCHLD: "SIGCHLD", syscall.SIGCONT: "SIGCONT", syscall.SIGSTOP: "SIGSTOP",
		syscall.SIGTSTP: "SIGTSTP", syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ",
		syscall.SIGSYS: "SIGSYS",
	}
	for sig, name := range want {
		if got := SignalName(sig); got != name {
			t.Errorf("SignalName(%d) = %q, want %q", int(sig), got, name)
		}
	}
	for sig := syscall.Signal(1); sig < 32; sig++ {
		if got := SignalName(sig); got == "" || got[:3] != "SIG" {
			t.Errorf("SignalName(%d) = %q, want a SIG name", int(sig), got)
		}
	}
	if got := SignalName(200); got != "signal 200" {
		t.Errorf("SignalName(200) = %q, want \"signal 200\"", got)
	}
}

func ExampleExitStatus() {
	fmt.Println(ExitStatus{Code: 2})
	fmt.Println(ExitStatus{Code: -1, Signal: syscall.SIGKILL})
	// Output:
	// exited with code 2
	// killed by SIGKILL
}

func ExampleSignalName() {
	fmt.Println(SignalName(syscall.SIGSEGV), SignalName(syscall.SIGUSR1))
	// Output: SIGSEGV SIGUSR1
}
