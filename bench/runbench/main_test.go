package main

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRSSAndRoot(t *testing.T) {
	kb, err := rssKB(os.Getpid())
	if err != nil || kb <= 0 {
		t.Fatalf("rssKB(self) = %v, %v", kb, err)
	}
	if _, err := repoRoot(); err != nil {
		t.Fatal(err)
	}
	if _, port, err := splitPort("127.0.0.1:8080"); err != nil || port != "8080" {
		t.Fatalf("splitPort = %q, %v", port, err)
	}
}
