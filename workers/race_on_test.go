//go:build race

package workers

// raceEnabled: the race detector's runtime reserves terabytes of address
// space, which RLIMIT_AS (the memory limit without cgroup v2) cannot allow.
const raceEnabled = true
