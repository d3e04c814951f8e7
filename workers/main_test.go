package workers

import (
	"testing"

	"github.com/herdrun/herd/child"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/herdrun/herd/child.startLoop"))
}
