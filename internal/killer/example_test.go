package killer_test

import (
	"fmt"
	"os/exec"
	"syscall"
	"time"

	"github.com/herdrun/herd/internal/killer"
)

// Stop a process group: SIGTERM now, SIGKILL in 5s unless it has exited by
// then.
func ExampleEscalation() {
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	k := killer.Escalation{Signal: syscall.SIGTERM, Grace: 5 * time.Second}.Start(killer.Group(cmd.Process.Pid))
	err := cmd.Wait()
	fmt.Println(err, "- SIGKILL cancelled:", k.Stop())
	// Output: signal: terminated - SIGKILL cancelled: true
}
