package workers

import (
	"testing"

	"github.com/herdrun/herd/child"
	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) {
	child.Dispatch()
	testutil.VerifyTestMain(m)
}
