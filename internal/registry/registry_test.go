package registry

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/herdrun/herd/internal/testutil"
)

func TestMain(m *testing.M) { testutil.VerifyTestMain(m) }

func TestAddLookupNames(t *testing.T) {
	r := New[int]("test: thing")
	if got := r.Names(); len(got) != 0 {
		t.Fatalf("empty Names() = %v", got)
	}
	if _, ok := r.Lookup("a"); ok {
		t.Fatal("Lookup found a name never added")
	}
	for i, n := range []string{"c", "a", "b"} {
		r.Add(n, i)
	}
	if got, want := r.Names(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if v, ok := r.Lookup("a"); !ok || v != 1 {
		t.Fatalf("Lookup(a) = %v, %v; want 1, true", v, ok)
	}
}

func panicOf(f func()) (msg string) {
	defer func() { msg = fmt.Sprint(recover()) }()
	f()
	return "<nil>"
}

func TestAddPanics(t *testing.T) {
	r := New[string]("test: thing")
	r.Add("x", "first")
	if got, want := panicOf(func() { r.Add("x", "second") }), `test: thing "x" registered twice`; got != want {
		t.Errorf("duplicate Add panicked with %q, want %q", got, want)
	}
	if got, want := panicOf(func() { r.Add("", "v") }), "test: thing registered with an empty name"; got != want {
		t.Errorf("empty-name Add panicked with %q, want %q", got, want)
	}
	if v, _ := r.Lookup("x"); v != "first" {
		t.Errorf("a failed duplicate Add replaced the value: %q", v)
	}
}

func TestConcurrent(t *testing.T) {
	r := New[int]("test: thing")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				r.Add(strconv.Itoa(g*1000+i), i)
				r.Lookup(strconv.Itoa(i))
				r.Names()
			}
		}()
	}
	wg.Wait()
	if n := len(r.Names()); n != 400 {
		t.Fatalf("%d names after 400 concurrent Adds", n)
	}
}

func ExampleRegistry() {
	r := New[func() string]("example: greeting")
	r.Add("world", func() string { return "hello, world" })
	r.Add("gopher", func() string { return "hello, gopher" })
	fmt.Println(r.Names())
	if f, ok := r.Lookup("world"); ok {
		fmt.Println(f())
	}
	// Output:
	// [gopher world]
	// hello, world
}
