package supervise

import (
	"time"

	"github.com/herdrun/herd/internal/procfs"
)

// Stats is a snapshot of one process's resource use.
//
// Deprecated: forwards to procfs until the app layer moves.
type Stats struct {
	// RSS is the resident set size in bytes.
	RSS int64
	// CPU is the user plus system CPU time the process has used.
	CPU time.Duration
}

// ReadStats reads pid's resident memory and CPU time from /proc.
//
// Deprecated: forwards to procfs until the app layer moves.
func ReadStats(pid int) (Stats, error) {
	s, err := procfs.ReadStat(pid)
	return Stats{RSS: s.RSS(), CPU: s.CPU()}, err
}

// Tree returns pid followed by all its descendants.
//
// Deprecated: forwards to procfs until the app layer moves.
func Tree(pid int) []int { return procfs.Tree(pid) }
