package jobs

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// FuzzPubAck: the hand-written reader of the store's replies agrees with
// encoding/json on every input it accepts, and the replies the store sends
// read as they should.
func FuzzPubAck(f *testing.F) {
	for _, s := range []string{
		`{"stream":"KV_herd_jobs","seq":1}`,
		`{"stream":"KV_herd_jobs","seq":18446744073709551615}`,
		`{"stream":"KV_herd_jobs","domain":"hub","seq":7}`,
		`{"stream":"KV_herd_jobs","seq":7,"duplicate":true}`,
		`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"KV_herd_jobs","seq":0}`,
		`{"stream":"KV_herd_jobs","seq":01}`,
		`{"stream":"","seq":1}`,
		`{}`, ``, `{"stream":"a","seq":}`, `not json`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, ok := parsePubAckFast(b)
		if !ok {
			_, _ = parsePubAck(b) // must not panic
			return
		}
		var pa struct {
			Error  *jetstream.APIError `json:"error"`
			Stream string              `json:"stream"`
			Seq    uint64              `json:"seq"`
		}
		if err := json.Unmarshal(b, &pa); err != nil || pa.Error != nil || pa.Stream == "" || pa.Seq != seq {
			t.Fatalf("fast read %q as seq %d; encoding/json: %+v, %v", b, seq, pa, err)
		}
	})
}

func TestPubAck(t *testing.T) {
	if seq, err := parsePubAck([]byte(`{"stream":"KV_herd_jobs","seq":42}`)); err != nil || seq != 42 {
		t.Fatalf("plain PubAck: %d, %v", seq, err)
	}
	if seq, err := parsePubAck([]byte(`{"stream":"KV_herd_jobs","domain":"d","seq":43}`)); err != nil || seq != 43 {
		t.Fatalf("PubAck with a domain: %d, %v", seq, err)
	}
	_, err := parsePubAck([]byte(`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"KV_herd_jobs","seq":0}`))
	if !errWrongRev(err) {
		t.Fatalf("a failed compare-and-swap reads as %v, not a wrong revision", err)
	}
	if _, err := parsePubAck([]byte(`{"seq":1}`)); !errors.Is(err, errBadPubAck) {
		t.Fatalf("a reply without a stream reads as %v", err)
	}
}
