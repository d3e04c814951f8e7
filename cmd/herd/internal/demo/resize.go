package demo

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"time"

	"github.com/herdrun/herd/jobs"
)

// ResizeKind is the kind of the demo's image job.
const ResizeKind = "resize"

// The resize job's defaults and bounds.
const (
	// SourceWidth and SourceHeight are the size of the generated image a
	// job without an image of its own processes.
	SourceWidth, SourceHeight = 640, 480
	// DefaultResizeWidth is the output width when the args give no size;
	// the height keeps the source's aspect ratio (DefaultResizeHeight for
	// the generated source).
	DefaultResizeWidth, DefaultResizeHeight = 320, 240
	// MaxResizeSide bounds each side of the output.
	MaxResizeSide = 4096
	// MaxResizePause bounds ResizeArgs.Pause.
	MaxResizePause = 10 * time.Second
	// blurRadius is the radius of the box blur, in output pixels.
	blurRadius = 2
)

// ResizeArgs are the resize job's arguments; every field is optional, so
// {"kind":"resize"} alone is a valid job.
type ResizeArgs struct {
	// Width and Height are the output size. When only one is given, the
	// other keeps the source's aspect ratio; with neither, the width is
	// DefaultResizeWidth (320x240 for the generated source).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Pause, a duration such as "1s", makes the job wait that long between
	// its steps, so that its progress can be watched and it can be
	// cancelled while it runs. At most MaxResizePause.
	Pause string `json:"pause,omitempty"`
	// Upload names an image uploaded with POST /resize-upload (the hex
	// SHA-256 of its bytes), processed instead of the generated one.
	Upload string `json:"upload,omitempty"`
}

// ResizeResult is the resize job's result: the output PNG and its size. It
// is large, so the jobs engine keeps it in its object store; `herd demo`
// serves the image at GET /resized/{id}.
type ResizeResult struct {
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Bytes  int    `json:"bytes"`
	PNG    []byte `json:"png"`
}

// size returns the output size a's fields ask for from a source of sw x
// sh pixels, or an error naming the field at fault.
func (a ResizeArgs) size(sw, sh int) (int, int, error) {
	for _, f := range []struct {
		name string
		v    int
	}{{"width", a.Width}, {"height", a.Height}} {
		if f.v < 0 || f.v > MaxResizeSide {
			return 0, 0, fmt.Errorf("args.%s %d: want 1 to %d, or leave it out", f.name, f.v, MaxResizeSide)
		}
	}
	w, h := a.Width, a.Height
	if w == 0 && h == 0 {
		w = DefaultResizeWidth
	}
	switch {
	case w == 0:
		w = min(max(1, h*sw/max(1, sh)), MaxResizeSide)
	case h == 0:
		h = min(max(1, w*sh/max(1, sw)), MaxResizeSide)
	}
	return w, h, nil
}

// pause returns a's pause.
func (a ResizeArgs) pause() (time.Duration, error) {
	if a.Pause == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(a.Pause)
	if err != nil || d < 0 || d > MaxResizePause {
		return 0, fmt.Errorf("args.pause %q: want a duration from 0 to %v, such as \"1s\"", a.Pause, MaxResizePause)
	}
	return d, nil
}

// RegisterResize registers the resize job's handler on c; uploads is the
// directory of uploaded images.
func RegisterResize(c *jobs.Client, uploads string) {
	jobs.Register(c, ResizeKind, func(ctx context.Context, j *jobs.Job[ResizeArgs]) (ResizeResult, error) {
		var src image.Image = SourceImage(SourceWidth, SourceHeight)
		if j.Args.Upload != "" {
			img, err := loadUpload(uploads, j.Args.Upload)
			if err != nil {
				return ResizeResult{}, err
			}
			src = img
		}
		return Resize(ctx, src, j.Args, j.Progress)
	})
}

// Resize resizes src to the size args asks for (bilinear), blurs it (a box
// blur of radius 2, horizontal then vertical) and encodes it as PNG. It
// reports its progress after each step through progress, which may be nil,
// and stops early when ctx is done.
func Resize(ctx context.Context, src image.Image, args ResizeArgs, progress func(float64, string) error) (ResizeResult, error) {
	w, h, err := args.size(src.Bounds().Dx(), src.Bounds().Dy())
	if err != nil {
		return ResizeResult{}, err
	}
	pause, err := args.pause()
	if err != nil {
		return ResizeResult{}, err
	}
	step := func(done float64, note string) error {
		if progress != nil {
			if err := progress(done, note); err != nil {
				return err
			}
		}
		if pause > 0 && done < 1 {
			t := time.NewTimer(pause)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}
		return context.Cause(ctx)
	}
	if err := step(0.1, "started"); err != nil {
		return ResizeResult{}, err
	}
	img := resizeBilinear(src, w, h)
	if err := step(0.4, fmt.Sprintf("resized to %dx%d", w, h)); err != nil {
		return ResizeResult{}, err
	}
	img = boxBlur(img, blurRadius, true)
	if err := step(0.6, "blurred across"); err != nil {
		return ResizeResult{}, err
	}
	img = boxBlur(img, blurRadius, false)
	if err := step(0.8, "blurred down"); err != nil {
		return ResizeResult{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return ResizeResult{}, err
	}
	if err := step(1, "encoded"); err != nil {
		return ResizeResult{}, err
	}
	return ResizeResult{Width: w, Height: h, Bytes: buf.Len(), PNG: buf.Bytes()}, nil
}

// SourceImage generates the image a job without one of its own processes:
// colour gradients under concentric rings.
func SourceImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)/2
	for y := range h {
		for x := range w {
			d := math.Hypot(float64(x)-cx, float64(y)-cy)
			ring := 0.5 + 0.5*math.Sin(d/6)
			img.SetRGBA(x, y, color.RGBA{
				R: uint8(255 * x / max(1, w-1)),
				G: uint8(255 * y / max(1, h-1)),
				B: uint8(255 * ring),
				A: 255,
			})
		}
	}
	return img
}

// resizeBilinear samples src at w x h points with bilinear interpolation.
func resizeBilinear(src image.Image, w, h int) *image.RGBA {
	b := src.Bounds()
	in := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			in.Set(x, y, src.At(x, y))
		}
	}
	sw, sh := b.Dx(), b.Dy()
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		fy := (float64(y)+0.5)*float64(sh)/float64(h) - 0.5
		y0 := clampInt(int(math.Floor(fy)), 0, sh-1)
		y1 := clampInt(y0+1, 0, sh-1)
		ty := fy - math.Floor(fy)
		if fy < 0 {
			ty = 0
		}
		for x := range w {
			fx := (float64(x)+0.5)*float64(sw)/float64(w) - 0.5
			x0 := clampInt(int(math.Floor(fx)), 0, sw-1)
			x1 := clampInt(x0+1, 0, sw-1)
			tx := fx - math.Floor(fx)
			if fx < 0 {
				tx = 0
			}
			o := out.PixOffset(x, y)
			for c := range 4 {
				p00 := float64(in.Pix[in.PixOffset(b.Min.X+x0, b.Min.Y+y0)+c])
				p10 := float64(in.Pix[in.PixOffset(b.Min.X+x1, b.Min.Y+y0)+c])
				p01 := float64(in.Pix[in.PixOffset(b.Min.X+x0, b.Min.Y+y1)+c])
				p11 := float64(in.Pix[in.PixOffset(b.Min.X+x1, b.Min.Y+y1)+c])
				v := (p00*(1-tx)+p10*tx)*(1-ty) + (p01*(1-tx)+p11*tx)*ty
				out.Pix[o+c] = uint8(math.Round(v))
			}
		}
	}
	return out
}

// boxBlur averages each pixel with its r neighbours on each side, across
// (horizontal) or down; the edges repeat.
func boxBlur(src *image.RGBA, r int, across bool) *image.RGBA {
	w, h := src.Rect.Dx(), src.Rect.Dy()
	out := image.NewRGBA(src.Rect)
	n := 2*r + 1
	for y := range h {
		for x := range w {
			var sum [4]int
			for k := -r; k <= r; k++ {
				sx, sy := x, y
				if across {
					sx = clampInt(x+k, 0, w-1)
				} else {
					sy = clampInt(y+k, 0, h-1)
				}
				i := src.PixOffset(src.Rect.Min.X+sx, src.Rect.Min.Y+sy)
				for c := range 4 {
					sum[c] += int(src.Pix[i+c])
				}
			}
			o := out.PixOffset(src.Rect.Min.X+x, src.Rect.Min.Y+y)
			for c := range 4 {
				out.Pix[o+c] = uint8((sum[c] + n/2) / n)
			}
		}
	}
	return out
}

func clampInt(v, lo, hi int) int { return min(max(v, lo), hi) }
