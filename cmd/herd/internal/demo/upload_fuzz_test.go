package demo

import (
	"bytes"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParseUpload(f *testing.F) {
	var img bytes.Buffer
	png.Encode(&img, SourceImage(4, 3))
	for _, q := range []string{"", "width=20", "width=20&height=10", "width=0", "height=99999", "w=1", "width=1&width=2", "%zz"} {
		f.Add(q, img.Bytes())
	}
	f.Add("", []byte("not an image"))
	f.Add("", []byte("GIF89a\xff\xff\xff\xff"))                // a GIF header claiming 65535x65535
	f.Add("", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")) // cut short
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		args, ue := parseUpload(q, body)
		if ue != nil {
			if (ue.code != 400 && ue.code != 413) || ue.field == "" || !utf8.ValidString(ue.field) || strings.Contains(ue.msg, "\n") {
				t.Fatalf("bad refusal %+v", ue)
			}
			return
		}
		if args.Width < 0 || args.Width > MaxResizeSide || args.Height < 0 || args.Height > MaxResizeSide || args.Upload != "" {
			t.Fatalf("accepted %+v", args)
		}
	})
}
