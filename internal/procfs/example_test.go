package procfs_test

import (
	"fmt"

	"github.com/herdrun/herd/internal/procfs"
)

// A command name may hold spaces and parentheses; the fields after it are
// still read right.
func ExampleParseStat() {
	line := "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 1048576 10 0 0 0\n"
	s, err := procfs.ParseStat([]byte(line))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%q %c ppid=%d pgid=%d cpu=%v\n", s.Comm, s.State, s.PPID, s.PGID, s.CPU())
	// Output: "my (odd) name" S ppid=1 pgid=4242 cpu=3s
}

// An FS with a Root reads a proc tree elsewhere, as tests do; the zero FS
// reads /proc.
func ExampleFS() {
	fmt.Println(procfs.FS{}.Path("1/stat"))
	fmt.Println(procfs.FS{Root: "/tmp/fakeproc"}.Path("1/stat"))
	// Output:
	// /proc/1/stat
	// /tmp/fakeproc/1/stat
}
