package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"path/filepath"
	"strings"
)

// nodeResult is what every script of bench/node prints on stdout.
type nodeResult struct {
	Unit    string    `json:"unit"`
	Samples []float64 `json:"samples"`
}

// node runs `node <NodeDir>/script args...` in a fresh Node process and
// returns the samples it measured itself.
func (b *bench) node(script string, args ...string) ([]float64, error) {
	ctx, cancel := b.context()
	defer cancel()
	cmd := exec.CommandContext(ctx, b.nodeBin, append([]string{filepath.Join(b.cfg.NodeDir, script)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node %s %s: %w: %s", script, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("node %s: output %q: %w", script, out, err)
	}
	if len(r.Samples) == 0 {
		return nil, fmt.Errorf("node %s: no samples in %q", script, out)
	}
	for _, x := range r.Samples {
		if math.IsNaN(x) || math.IsInf(x, 0) || x <= 0 {
			return nil, fmt.Errorf("node %s: bad sample %v", script, x)
		}
	}
	return r.Samples, nil
}
