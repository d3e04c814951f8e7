package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/herdrun/herd/child"
)

// The Go sides of the child measurements.

// execTrue times child.Exec("true") (through /bin/sh, as Node's exec does)
// or child.Spawn("true") followed by Wait, samples times after two
// warm-ups, in milliseconds.
func (b *bench) execTrue(spawn bool, samples int) ([]float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	one := func() (time.Duration, error) {
		t0 := time.Now()
		if spawn {
			p, err := child.Spawn(ctx, "true", nil, nil)
			if err != nil {
				return 0, err
			}
			err = p.Wait()
			return time.Since(t0), err
		}
		_, err := child.Exec(ctx, "true", nil)
		return time.Since(t0), err
	}
	var out []float64
	for i := range samples + 2 {
		dt, err := one()
		if err != nil {
			return nil, err
		}
		if i >= 2 {
			out = append(out, ms(dt))
		}
	}
	return out, nil
}

// streamArgs is the producer of the streaming measurement: dd writes its
// zeros in 1 MiB writes, so the reader, not the producer, sets the pace.
// (head -c writes 4 KiB at a time and would cap both readers alike.)
func streamArgs(bytes int) []string {
	return []string{"dd", "if=/dev/zero", "bs=1M", "count=" + strconv.Itoa(bytes>>20), "status=none"}
}

// stream spawns the producer and reads its stdout to the end in 64 KiB
// reads (the size Node's libuv reads a pipe with), then Waits; the span is
// from Spawn to Wait's return, in MiB per second.
func (b *bench) stream(bytes int) (float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	args := streamArgs(bytes)
	t0 := time.Now()
	p, err := child.Spawn(ctx, args[0], args[1:], nil)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	got := 0
	for {
		n, rerr := p.Stdout.Read(buf)
		got += n
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	err = errors.Join(err, p.Wait())
	dt := time.Since(t0)
	if err == nil && got != bytes {
		err = fmt.Errorf("read %d bytes of stdout, want %d", got, bytes)
	}
	return mib(bytes) / dt.Seconds(), err
}
