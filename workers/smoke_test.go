package workers

import (
	"context"
	"testing"
)

func TestSmoke(t *testing.T) {
	for _, be := range []Backend{Goroutines, Processes} {
		t.Run(be.String(), func(t *testing.T) {
			p, err := New(tDouble, &Options{Backend: be, Size: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			for i := range 100 {
				got, err := p.Run(context.Background(), i)
				if err != nil || got != 2*i {
					t.Fatalf("Run(%d) = %d, %v", i, got, err)
				}
			}
			t.Logf("%+v", p.Stats())
		})
	}
}
