package workers

import (
	"context"
	"encoding/json"
	"reflect"

	"github.com/herdrun/herd/internal/registry"
)

// Task is a function registered by name, runnable on either backend: in a
// goroutine of this process, or in a worker process that is a copy of this
// program. Make one with Register, at package level, so that the parent and
// its worker processes both have it. The zero Task is invalid.
type Task[In, Out any] struct {
	e *taskEntry
}

// Name returns the name the task was registered under.
func (t Task[In, Out]) Name() string {
	if t.e == nil {
		return ""
	}
	return t.e.name
}

// Func is the body of a task. ctx is cancelled when the caller's context is
// done, the task's timeout passes or the pool is killed; on the process
// backend it is also cancelled when the parent goes away.
type Func[In, Out any] func(ctx context.Context, in In) (Out, error)

// taskEntry is the untyped view of a registered task used by the pool and
// by worker processes.
type taskEntry struct {
	name string
	// call runs the function on a decoded input (goroutine backend).
	call func(ctx context.Context, in any) (any, error)
	// callWire decodes the input, runs the function and encodes the result
	// (worker processes).
	callWire func(ctx context.Context, in []byte) ([]byte, error)
	encIn    func(in any) ([]byte, error)
	decOut   func(b []byte) (any, error)
}

// tasks holds the tasks made with Register.
var tasks = registry.New[*taskEntry]("workers: task")

var bytesType = reflect.TypeFor[[]byte]()

// Register makes fn runnable under name by pools of either backend and
// returns the Task to submit. Call it at package level (var t =
// workers.Register(...)) or before child.Dispatch in main, so that worker
// processes, which are copies of this program, register the same tasks. It
// panics if name is empty or taken, or fn is nil: those are programming
// errors.
//
// Inputs and outputs travel between processes encoded with encoding/json,
// so on the process backend their exported fields are what arrives; a
// []byte In or Out travels as raw bytes instead. On the goroutine backend
// values are passed as they are, without copying.
func Register[In, Out any](name string, fn Func[In, Out]) Task[In, Out] {
	if name == "" || fn == nil {
		panic("workers: Register needs a name and a function")
	}
	e := &taskEntry{name: name}
	e.call = func(ctx context.Context, in any) (any, error) {
		v, _ := in.(In)
		return fn(ctx, v)
	}
	e.encIn = encoder[In]()
	decIn := decoder[In]()
	encOut := encoder[Out]()
	decOut := decoder[Out]()
	e.decOut = func(b []byte) (any, error) { return decOut(b) }
	e.callWire = func(ctx context.Context, b []byte) ([]byte, error) {
		in, err := decIn(b)
		if err != nil {
			return nil, &CodecError{Task: name, Dir: "decode input", Err: err}
		}
		out, err := fn(ctx, in)
		if err != nil {
			return nil, err
		}
		ob, err := encOut(out)
		if err != nil {
			return nil, &CodecError{Task: name, Dir: "encode output", Err: err}
		}
		return ob, nil
	}
	tasks.Add(name, e)
	return Task[In, Out]{e: e}
}

// lookupTask returns the task registered under name, or nil.
func lookupTask(name string) *taskEntry {
	e, _ := tasks.Lookup(name)
	return e
}

// encoder returns how a T is put on the wire: raw for []byte, else JSON.
func encoder[T any]() func(v any) ([]byte, error) {
	if reflect.TypeFor[T]() == bytesType {
		return func(v any) ([]byte, error) {
			b, _ := v.([]byte)
			return b, nil
		}
	}
	return func(v any) ([]byte, error) { return json.Marshal(v) }
}

// decoder returns how a T is read from the wire.
func decoder[T any]() func(b []byte) (T, error) {
	if reflect.TypeFor[T]() == bytesType {
		return func(b []byte) (T, error) {
			var v T
			*(any(&v).(*[]byte)) = b
			return v, nil
		}
	}
	return func(b []byte) (T, error) {
		var v T
		err := json.Unmarshal(b, &v)
		return v, err
	}
}

// TaskNames returns the names of the registered tasks, sorted.
func TaskNames() []string { return tasks.Names() }
