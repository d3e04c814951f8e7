package supervise

import (
	"os"
	"strconv"
	"strings"
)

// Children returns the pids of pid's child processes, read from the
// children file of each of its threads in /proc (Linux 3.5 and later). It
// returns nil when the process is gone.
func Children(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			continue // the thread just exited
		}
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// Tree returns pid followed by all its descendants, parents before their
// children, at most 4096 processes.
func Tree(pid int) []int {
	out := []int{pid}
	seen := map[int]bool{pid: true}
	for i := 0; i < len(out) && len(out) < 4096; i++ {
		for _, c := range Children(out[i]) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// State returns the one-letter state of pid from /proc/<pid>/stat ('R',
// 'S', 'Z' for a zombie, ...), or 0 when the process is gone.
func State(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return 0
	}
	return s[i+2]
}
