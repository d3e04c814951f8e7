package sockwatch

import "golang.org/x/sys/unix"

// legacyPollCalls are poll and select, which newer architectures lack.
var legacyPollCalls = []int64{unix.SYS_POLL, unix.SYS_SELECT}
