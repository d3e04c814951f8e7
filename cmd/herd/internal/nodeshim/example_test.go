package nodeshim_test

import (
	"fmt"
	"os"

	"github.com/herdrun/herd/cmd/herd/internal/nodeshim"
)

// Start node with the shim so that its listen(3000) takes the socket herd
// passes as fd 3 named "port-3000".
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
