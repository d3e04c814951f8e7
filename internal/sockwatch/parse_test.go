package sockwatch

import "testing"

func TestParseListeners(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BB8 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4244 1 0000000000000000 100 0 0 10 0
   3: garbage
`
	got := parseListeners([]byte(table), map[int]bool{3000: true})
	if len(got) != 1 || !got[4242] {
		t.Fatalf("got %v, want only the LISTEN row of port 3000 (4242)", got)
	}
}

func TestEpollWatches(t *testing.T) {
	info := "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n" +
		"tfd:        3 events:       19 data:                3  pos:0 ino:1a2b sdev:8\n"
	if !epollWatches([]byte(info), map[uint64]bool{0x1a2b: true}, nil) {
		t.Fatal("ino match missed")
	}
	if epollWatches([]byte(info), map[uint64]bool{0x1a2c: true}, map[int]bool{3: true}) {
		t.Fatal("tfd used although ino is given")
	}
	old := "tfd:        3 events:       19 data:                3\n"
	if !epollWatches([]byte(old), nil, map[int]bool{3: true}) {
		t.Fatal("tfd fallback missed")
	}
}

func TestBlockedOn(t *testing.T) {
	for _, c := range []struct {
		in   string
		held map[int]bool
		want bool
	}{
		{"running", map[int]bool{3: true}, false},
		{"-1 0x7ffd 0x4", map[int]bool{3: true}, false},
		{"", nil, false},
	} {
		if got := blockedOn([]byte(c.in), c.held); got != c.want {
			t.Errorf("blockedOn(%q) = %v", c.in, got)
		}
	}
}
