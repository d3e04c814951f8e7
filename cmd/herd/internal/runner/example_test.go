package runner_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/herdrun/herd/cmd/herd/internal/app"
	"github.com/herdrun/herd/cmd/herd/internal/logsink"
	"github.com/herdrun/herd/cmd/herd/internal/runner"
)

// Run two instances of a program in fork mode; each learns its instance
// number from HERD_INSTANCE. The never restart policy makes Run return
// once both have exited.
func Example() {
	a := app.App{
		Name:      "hello",
		Command:   []string{"sh", "-c", `sleep 0.$HERD_INSTANCE; echo "instance $HERD_INSTANCE of $HERD_APP"`},
		Instances: 2,
		Ready:     app.ReadyStart,
		Restart:   app.RestartNever,
	}
	if err := a.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	r, err := runner.New(a, &logsink.Logs{Out: appLines{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	fmt.Println(r.Run(ctx))
	// Output:
	// hello[0] | instance 0 of hello
	// hello[1] | instance 1 of hello
	// <nil>
}

// appLines prints only the apps' own lines, not herd's.
type appLines struct{}

func (appLines) Write(p []byte) (int, error) {
	if len(p) > 5 && string(p[:5]) != "herd " {
		os.Stdout.Write(p)
	}
	return len(p), nil
}
