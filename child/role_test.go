package child

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/herdrun/herd/ipc"
)

func panicOf(f func()) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f()
	return "<nil>"
}

func TestRegisterPanicsAndRoles(t *testing.T) {
	fn := func(ctx context.Context, parent *ipc.Conn) error { return nil }
	if got, want := panicOf(func() { Register("test-echo", fn) }), `child: role "test-echo" registered twice`; got != want {
		t.Errorf("Register of a taken name panicked with %q, want %q", got, want)
	}
	for _, c := range []struct {
		name string
		fn   RoleFunc
	}{{"", fn}, {"test-nil", nil}} {
		if got, want := panicOf(func() { Register(c.name, c.fn) }), "child: Register needs a name and a function"; got != want {
			t.Errorf("Register(%q, fn) panicked with %q, want %q", c.name, got, want)
		}
	}
	roles := Roles()
	if !slices.IsSorted(roles) || !slices.Contains(roles, "test-echo") || slices.Contains(roles, "test-nil") {
		t.Errorf("Roles() = %v, want sorted, with test-echo and without test-nil", roles)
	}
}
