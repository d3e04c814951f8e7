// Package registry is the one table of named functions that a copy of
// this program can run: child's roles, workers' tasks and workers'
// long-lived functions each keep a Registry of their own.
//
// The model is Go's init-time registration (image.RegisterFormat,
// sql.Register): names are added once, at package level or at the top of
// main, before the process may be asked to run one; a name added twice is a
// programming error and panics. Because a worker process is a copy of the
// same binary, registering at package level is what makes a name exist on
// both sides.
package registry

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps names to values of type T. Its methods are safe for
// concurrent use. Make one with New; the zero Registry is not usable.
type Registry[T any] struct {
	what string // "child: role", named in the duplicate panic

	mu sync.RWMutex
	m  map[string]T
}

// New returns an empty Registry. what names one entry for the panic of a
// duplicate Add: with "child: role" it reads `child: role "x" registered
// twice`.
func New[T any](what string) *Registry[T] {
	return &Registry[T]{what: what, m: map[string]T{}}
}

// Add registers v under name. It panics if name is empty or already
// registered: those are programming errors, found at start-up.
func (r *Registry[T]) Add(name string, v T) {
	if name == "" {
		panic(r.what + " registered with an empty name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("%s %q registered twice", r.what, name))
	}
	r.m[name] = v
}

// Lookup returns the value registered under name, and whether there is one.
func (r *Registry[T]) Lookup(name string) (T, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[name]
	return v, ok
}

// Names returns the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	r.mu.RUnlock()
	sort.Strings(names)
	return names
}
