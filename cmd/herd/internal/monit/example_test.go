package monit_test

import (
	"fmt"

	"github.com/herdrun/herd/cmd/herd/internal/monit"
)

// A sparkline of the last samples of an app's memory.
func ExampleSparkline() {
	var h monit.History
	for _, mb := range []int64{40, 42, 41, 60, 80, 79, 50} {
		h.Add("web", mb<<20)
	}
	fmt.Println(monit.Sparkline(h.Get("web"), 10))
	// Output: ▁▁▁▄█▇▂
}
