package jobsclient_test

import (
	"strings"
	"testing"

	"github.com/herdrun/herd/cmd/herd/internal/jobsclient"
)

func FuzzReadEvents(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: state\ndata: {\"id\":\"A\",\"state\":\"queued\"}\n\n",
		": keep-alive\n\nid: 2\nevent: progress\ndata: {\"id\":\"A\",\"state\":\"running\",\"progress\":0.5}\n\n",
		"event: state\ndata: {\"id\":\n\n",
		"data: {\"id\":\"A\",\ndata: \"state\":\"succeeded\"}\n\n",
		"event: x\n\n\n\n",
		"data:{}\n\ndata:[]\n\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		err := jobsclient.ReadEvents(strings.NewReader(s), func(ev jobsclient.Event) error {
			n++
			if ev.Name == "" {
				t.Fatal("an event without a name")
			}
			return nil
		})
		if n > strings.Count(s, "\n") {
			t.Fatalf("%d events from %d lines", n, strings.Count(s, "\n"))
		}
		_ = err
	})
}
