package demo

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"
)

func TestResize(t *testing.T) {
	src := SourceImage(SourceWidth, SourceHeight)
	for _, c := range []struct {
		args ResizeArgs
		w, h int
	}{
		{ResizeArgs{}, DefaultResizeWidth, DefaultResizeHeight},
		{ResizeArgs{Width: 64}, 64, 48},
		{ResizeArgs{Height: 60}, 80, 60},
		{ResizeArgs{Width: 1000, Height: 10}, 1000, 10}, // up on one side
		{ResizeArgs{Width: 1, Height: 1}, 1, 1},
	} {
		var steps []float64
		res, err := Resize(context.Background(), src, c.args, func(f float64, note string) error {
			if note == "" {
				t.Errorf("progress %v without a note", f)
			}
			steps = append(steps, f)
			return nil
		})
		if err != nil {
			t.Fatalf("%+v: %v", c.args, err)
		}
		img, err := png.Decode(bytes.NewReader(res.PNG))
		if err != nil {
			t.Fatalf("%+v: the output is not a PNG: %v", c.args, err)
		}
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h || res.Width != c.w || res.Height != c.h || res.Bytes != len(res.PNG) {
			t.Fatalf("%+v: %v, result %dx%d %d bytes; want %dx%d", c.args, b, res.Width, res.Height, res.Bytes, c.w, c.h)
		}
		if len(steps) != 5 || steps[len(steps)-1] != 1 {
			t.Fatalf("%+v: progress %v, want 5 steps ending at 1", c.args, steps)
		}
	}
}

// TestBlur: the blur smooths a sharp edge and keeps a flat colour.
func TestBlur(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 10, 3))
	for y := range 3 {
		for x := range 10 {
			v := uint8(0)
			if x >= 5 {
				v = 250
			}
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = v, 100, 0, 255
		}
	}
	out := boxBlur(img, 2, true)
	row := func(x int) uint8 { return out.Pix[out.PixOffset(x, 1)] }
	if row(0) != 0 || row(9) != 250 || row(4) != 100 || row(5) != 150 || row(3) != 50 {
		t.Fatalf("blurred row %v", []uint8{row(0), row(3), row(4), row(5), row(9)})
	}
	if g := out.Pix[out.PixOffset(4, 1)+1]; g != 100 {
		t.Fatalf("a flat channel changed to %d", g)
	}
	down := boxBlur(out, 2, false)
	if !bytes.Equal(down.Pix, out.Pix) {
		t.Fatal("blurring rows that are all alike changed them")
	}
}

func TestResizeBadArgs(t *testing.T) {
	src := SourceImage(8, 6)
	for _, c := range []struct {
		args ResizeArgs
		want string
	}{
		{ResizeArgs{Width: -1}, "args.width -1: want 1 to 4096"},
		{ResizeArgs{Height: 5000}, "args.height 5000: want 1 to 4096"},
		{ResizeArgs{Pause: "soon"}, `args.pause "soon": want a duration`},
		{ResizeArgs{Pause: "1h"}, `args.pause "1h"`},
	} {
		if _, err := Resize(context.Background(), src, c.args, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.args, err, c.want)
		}
	}
}

func TestResizeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := errors.New("stop")
	_, err := Resize(ctx, SourceImage(8, 6), ResizeArgs{Pause: "10s"}, func(f float64, _ string) error {
		if f >= 0.4 {
			return stop
		}
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Resize with its context cancelled: %v", err)
	}
}
