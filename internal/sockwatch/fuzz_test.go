package sockwatch

import "testing"

// FuzzProcParsers feeds arbitrary bytes to the parsers of /proc files: none
// may panic.
func FuzzProcParsers(f *testing.F) {
	f.Add([]byte("   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n"))
	f.Add([]byte("tfd:        3 events:       19 data:                3  pos:0 ino:1a2b sdev:8\n"))
	f.Add([]byte("43 0x3 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x4\n"))
	f.Add([]byte("288 0xffffffffffffffff 0 0 0 0 0 0 0"))
	f.Add([]byte("tfd: x ino:zz\n  0: :: 0A a b c d e f g\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseListeners(b, map[int]bool{3000: true})
		epollWatches(b, map[uint64]bool{1: true}, map[int]bool{3: true})
		blockedOn(b, map[int]bool{3: true})
	})
}
