package herdbin

import (
	"net"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// This process's CPU time and memory read back as positive numbers, and
// a missing process is an error; a free address can be listened on.
func TestProcessReadings(t *testing.T) {
	for i := 0; i < 1e7; i++ { // some CPU time to see
		_ = i * i
	}
	if c, err := CPUTicks(os.Getpid()); err != nil || c < 0 {
		t.Errorf("CPUTicks(self) = %d, %v", c, err)
	}
	if mb, err := RSSMB(os.Getpid()); err != nil || !(mb > 1) {
		t.Errorf("RSSMB(self) = %v, %v", mb, err)
	}
	if _, err := CPUTicks(1 << 30); err == nil {
		t.Error("CPUTicks of a missing pid succeeded")
	}
	if _, err := RSSMB(1 << 30); err == nil {
		t.Error("RSSMB of a missing pid succeeded")
	}
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreeAddr %s: %v", addr, err)
	}
	l.Close()
}
