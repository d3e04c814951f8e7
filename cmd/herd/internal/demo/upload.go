package demo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // uploads may be GIF,
	_ "image/jpeg" // JPEG
	_ "image/png"  // or PNG
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herdrun/herd/jobs"
	"github.com/herdrun/herd/jobs/jobshttp"
)

// Bounds of an uploaded image.
const (
	// MaxUploadBytes bounds the body of POST /resize-upload.
	MaxUploadBytes = 8 << 20
	// MaxUploadPixels bounds width*height of an uploaded image, so that a
	// small file cannot ask for a huge decode.
	MaxUploadPixels = 40_000_000
)

// uploadName is the file name of an upload: its hash, which is also what
// ResizeArgs.Upload holds, checked to be 64 hex digits.
func uploadPath(dir, name string) (string, error) {
	if b, err := hex.DecodeString(name); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("args.upload %q: want the name POST /resize-upload gave (64 hex digits)", name)
	}
	return filepath.Join(dir, name), nil
}

// loadUpload decodes an uploaded image.
func loadUpload(dir, name string) (image.Image, error) {
	p, err := uploadPath(dir, name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("args.upload %s: %w", name, err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("args.upload %s: %w", name, err)
	}
	return img, nil
}

// uploadError is a refused upload: its status, field and message.
type uploadError struct {
	code       int
	field, msg string
}

// parseUpload checks the query and the body of POST /resize-upload and
// returns the resize job's args for it (Upload still empty).
func parseUpload(q url.Values, body []byte) (ResizeArgs, *uploadError) {
	var args ResizeArgs
	for k := range q {
		if k != "width" && k != "height" {
			return args, &uploadError{400, fieldName(k), fmt.Sprintf("%s: unknown parameter; the parameters are width, height", strconv.Quote(k))}
		}
	}
	for _, p := range []struct {
		name string
		v    *int
	}{{"width", &args.Width}, {"height", &args.Height}} {
		if len(q[p.name]) > 1 {
			return args, &uploadError{400, p.name, p.name + ": given more than once; give it once"}
		}
		if s := q.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > MaxResizeSide {
				return args, &uploadError{400, p.name, fmt.Sprintf("%s: %q; write a whole number from 1 to %d", p.name, s, MaxResizeSide)}
			}
			*p.v = n
		}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return args, &uploadError{400, "body", "body: not a PNG, JPEG or GIF image; send one with curl --data-binary @photo.png"}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxUploadPixels/cfg.Height {
		return args, &uploadError{413, "body", fmt.Sprintf("body: a %s of %dx%d pixels; send one of 1 to %d pixels", format, cfg.Width, cfg.Height, MaxUploadPixels)}
	}
	return args, nil
}

// fieldName returns k, or k quoted when it is not plain printable text.
func fieldName(k string) string {
	if k == "" || strings.ContainsFunc(k, func(r rune) bool { return !unicode.IsPrint(r) || r == ' ' || r == utf8.RuneError }) {
		return strconv.Quote(k)
	}
	return k
}

// serveUpload takes an image as the body of POST
// /resize-upload?width=&height=, keeps it in dir and submits a resize job
// for it: 202 {"id"} with Location, as POST /jobs answers.
func serveUpload(w http.ResponseWriter, r *http.Request, c *jobs.Client, dir string) {
	fail := func(code int, field, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(jobshttp.ErrorResponse{Error: msg, Field: field})
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxUploadBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		fail(http.StatusRequestEntityTooLarge, "body", fmt.Sprintf("body: the image is larger than %d MiB; send a smaller one", MaxUploadBytes>>20))
		return
	case err != nil:
		fail(http.StatusBadRequest, "body", "body: "+err.Error())
		return
	}
	args, ue := parseUpload(r.URL.Query(), body)
	if ue != nil {
		fail(ue.code, ue.field, ue.msg)
		return
	}
	sum := sha256.Sum256(body)
	args.Upload = hex.EncodeToString(sum[:])
	if err := writeUpload(dir, args.Upload, body); err != nil {
		fail(http.StatusInternalServerError, "", "keep the upload: "+err.Error())
		return
	}
	id, err := c.Submit(r.Context(), ResizeKind, args, jobs.SubmitOptions{})
	if err != nil {
		fail(http.StatusServiceUnavailable, "", err.Error())
		return
	}
	w.Header().Set("Location", "/jobs/"+id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(jobshttp.SubmitResponse{ID: id})
}

// writeUpload stores body as dir/name, whole or not at all.
func writeUpload(dir, name string, body []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err == nil {
		return nil // the same bytes are there already
	}
	tmp, err := os.CreateTemp(dir, ".upload-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}
