package child

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/herdrun/herd/internal/registry"
	"github.com/herdrun/herd/ipc"
)

// EnvRole names the registered function a process started by ForkSelf
// runs. Dispatch reads and removes it.
const EnvRole = "HERD_ROLE"

// RoleFunc is the body of a child started by ForkSelf. parent is the
// channel to the parent. ctx is cancelled when the process gets SIGTERM or
// SIGINT, or when the parent disconnects (it closed the channel or died).
// When the function returns the process exits: with status 0 for a nil
// error, else with status 1 after printing the error to stderr.
type RoleFunc func(ctx context.Context, parent *ipc.Conn) error

// roles holds the functions registered with Register.
var roles = registry.New[RoleFunc]("child: role")

// Register makes fn runnable in a child process under name, by ForkSelf.
// Call it at init time or at the top of main, before Dispatch. It panics if
// name is empty or already registered, or fn is nil: those are
// programming errors.
func Register(name string, fn RoleFunc) {
	if name == "" || fn == nil {
		panic("child: Register needs a name and a function")
	}
	roles.Add(name, fn)
}

// Roles returns the registered role names, sorted.
func Roles() []string { return roles.Names() }

// Dispatch turns this process into the role it was started as by
// ForkSelf, and never returns in that case: it runs the role's function and
// exits. In a process not started by ForkSelf it returns at once. Call it
// first thing in main (and in TestMain for tests that use ForkSelf), after
// the Register calls.
func Dispatch() {
	name, ok := os.LookupEnv(EnvRole)
	if !ok {
		return
	}
	os.Unsetenv(EnvRole)
	os.Exit(runRole(name))
}

func runRole(name string) int {
	fn, ok := roles.Lookup(name)
	if !ok {
		fmt.Fprintf(os.Stderr, "herd: role %q is not registered in this program (registered: %v); call child.Register before child.Dispatch\n", name, Roles())
		return 2
	}
	conn, err := ipc.FromEnv(nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "herd: role %q: %v\n", name, err)
		return 2
	}
	defer conn.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-conn.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := fn(ctx, conn); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
