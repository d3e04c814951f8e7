package child

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/herdrun/herd/ipc"
)

func init() {
	// test-extrafiles reads a line from each of the descriptors 3 and 4
	// and sends back what it read and where its channel was.
	Register("test-extrafiles", func(ctx context.Context, parent *ipc.Conn) error {
		var got []string
		for _, fd := range []uintptr{3, 4} {
			f := os.NewFile(fd, "extra")
			buf := make([]byte, 64)
			n, _ := f.Read(buf)
			got = append(got, string(buf[:n]))
			f.Close()
		}
		return parent.Send(ctx, got)
	})
}

// TestExtraFilesSpawn checks that Options.ExtraFiles become fd 3, 4, ...
// in a plain Spawn.
func TestExtraFilesSpawn(t *testing.T) {
	ctx := testCtx(t)
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	defer r1.Close()
	defer r2.Close()
	w1.WriteString("one")
	w2.WriteString("two")
	w1.Close()
	w2.Close()
	res, err := ExecFile(ctx, "/bin/sh", []string{"-c", "cat <&3; echo; cat <&4"}, &Options{ExtraFiles: []*os.File{r1, r2}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "one\ntwo" {
		t.Fatalf("stdout %q, want %q", got, "one\ntwo")
	}
}

// TestExtraFilesForkSelf checks that with ExtraFiles the files come first
// (fd 3, 4) and the channel follows at fd 5, named by NODE_CHANNEL_FD.
func TestExtraFilesForkSelf(t *testing.T) {
	ctx := testCtx(t)
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	w1.WriteString("first")
	w2.WriteString("second")
	w1.Close()
	w2.Close()
	p, err := ForkSelf(ctx, "test-extrafiles", nil, &Options{ExtraFiles: []*os.File{r1, r2}})
	r1.Close()
	r2.Close()
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.Channel.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := m.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "first,second" {
		t.Fatalf("child read %q, want [first second]", got)
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestExtraFilesChannelEnv checks the NODE_CHANNEL_FD a Fork child sees.
func TestExtraFilesChannelEnv(t *testing.T) {
	ctx := testCtx(t)
	r1, w1, _ := os.Pipe()
	defer r1.Close()
	defer w1.Close()
	var out strings.Builder
	p, err := Fork(ctx, "/bin/sh", []string{"-c", "echo $NODE_CHANNEL_FD"}, &Options{ExtraFiles: []*os.File{r1}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	p.Channel.Close()
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "4" {
		t.Fatalf("NODE_CHANNEL_FD=%q, want 4", got)
	}
}
