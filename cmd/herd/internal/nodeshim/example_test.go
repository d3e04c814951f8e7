package nodeshim_test

import (
	"fmt"
	"os"

	"github.com/herdrun/herd/cmd/herd/internal/nodeshim"
)

// Write the shim where node can load it: node --require <shim> app.js then
// asks herd for the sockets its listen calls name. FDName is the name of a
// port's socket that herd opens before the program starts.
func Example() {
	dir, _ := os.MkdirTemp("", "shim-example-")
	defer os.RemoveAll(dir)
	shim, err := nodeshim.Path(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(shim) > 0, nodeshim.FDName(3000))
	// Output: true port-3000
}
