package workers

import "syscall"

func syscallKill(pid int, sig string) error {
	s := map[string]syscall.Signal{"STOP": syscall.SIGSTOP, "KILL": syscall.SIGKILL}[sig]
	return syscall.Kill(pid, s)
}
