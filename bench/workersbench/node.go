package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// nodeBench drives bench/node/workers-bench.js, which stays up between
// rounds.
type nodeBench struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader

	// The Piscina settings workers-bench.js found fastest for each kind of
	// task, for the table's notes.
	noopVariant, spinVariant string
}

func startNodeBench(dir string) (*nodeBench, error) {
	cmd := exec.Command("node", filepath.Join(dir, "workers-bench.js"))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	nb := &nodeBench{cmd: cmd, in: in, out: bufio.NewReader(out)}
	var ready struct {
		Ready      bool
		Noop, Spin string
	}
	if err := nb.read(&ready); err != nil || !ready.Ready {
		nb.close()
		return nil, fmt.Errorf("node bench did not start: %v", err)
	}
	nb.noopVariant, nb.spinVariant = ready.Noop, ready.Spin
	return nb, nil
}

func (nb *nodeBench) read(v any) error {
	line, err := nb.out.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}

// call sends one request and decodes the reply into v.
func (nb *nodeBench) call(req map[string]any, v any) {
	b, _ := json.Marshal(req)
	if _, err := nb.in.Write(append(b, '\n')); err != nil {
		fatal(fmt.Errorf("node bench: %w", err))
	}
	if err := nb.read(v); err != nil {
		fatal(fmt.Errorf("node bench reply: %w", err))
	}
}

func (nb *nodeBench) close() {
	nb.in.Close()
	done := make(chan struct{})
	go func() { nb.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		nb.cmd.Process.Kill()
		<-done
	}
}
