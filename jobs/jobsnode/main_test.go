package jobsnode

import (
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }
