//go:build !amd64

package sockwatch

// legacyPollCalls is empty: this architecture has only ppoll and pselect6.
var legacyPollCalls []int64
