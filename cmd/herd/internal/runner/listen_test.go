package runner

import (
	"errors"
	"strings"
	"testing"

	"github.com/herdrun/herd/cmd/herd/internal/app"
)

// bindAddress gives the app the host it asked for, --host in place of
// "every interface", and refuses whatever would widen an address.
func TestBindAddress(t *testing.T) {
	for _, tc := range []struct {
		name      string
		host      string // App.Host
		preopen   bool
		askHost   string
		want, err string
	}{
		{"app's host", "", false, "127.0.0.1", "127.0.0.1:3000", ""},
		{"no host: every interface", "", false, "", ":3000", ""},
		{"ipv6 loopback", "", false, "::1", "[::1]:3000", ""},
		{"--host replaces every interface", "127.0.0.1", true, "", "127.0.0.1:3000", ""},
		{"--host replaces 0.0.0.0", "127.0.0.1", true, "0.0.0.0", "127.0.0.1:3000", ""},
		{"--host equal", "::1", true, "0:0::1", "[::1]:3000", ""},
		{"--host 0.0.0.0, asked loopback", "0.0.0.0", true, "127.0.0.1", "", "herd opened port 3000 on every interface"},
		{"--host differs", "10.1.2.3", true, "127.0.0.1", "", "herd is told to bind port 3000 to 10.1.2.3"},
		{"--host, asked no host", "127.0.0.1", true, "", "127.0.0.1:3000", ""},
		{"preopened on every interface, asked every interface", "", true, "::", ":3000", ""},
		{"preopened on every interface, asked loopback", "", true, "127.0.0.1", "", "run herd with -p 127.0.0.1:3000 (or --host 127.0.0.1)"},
	} {
		r := &Runner{app: app.App{Ports: []int{3000}, Host: tc.host}, preopen: tc.preopen}
		got, err := r.bindAddress(tc.askHost, 3000)
		var he *HostError
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		case tc.err != "" && (!errors.As(err, &he) || !strings.Contains(err.Error(), tc.err) || he.Code() != "EACCES"):
			t.Errorf("%s: %q, %v; want a *HostError saying %q", tc.name, got, err, tc.err)
		}
	}
	// A port other than the preopened ones is opened where asked, or on
	// --host.
	r := &Runner{app: app.App{Ports: []int{3000}}, preopen: true}
	if got, err := r.bindAddress("127.0.0.1", 9000); err != nil || got != "127.0.0.1:9000" {
		t.Errorf("other port: %q, %v", got, err)
	}
	r = &Runner{app: app.App{Ports: []int{3000}, Host: "127.0.0.1"}, preopen: true}
	if got, err := r.bindAddress("", 9000); err != nil || got != "127.0.0.1:9000" {
		t.Errorf("other port with --host: %q, %v", got, err)
	}
}
