package app_test

import (
	"encoding/json"
	"fmt"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

// An App in its JSON form, and the values its zero fields stand for.
func ExampleApp_WithDefaults() {
	var a app.App
	if err := json.Unmarshal([]byte(`{"command": ["node", "server.js"], "ports": [3000], "kill_timeout": 5000000000}`), &a); err != nil {
		fmt.Println(err)
		return
	}
	d := a.WithDefaults()
	fmt.Println(d.Instances, d.Ready, d.Restart, d.KillTimeout, d.ReadyTimeout, d.LogKeep)
	// Output: 1 listen always 5s 30s 5
}
