package demo

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFormatNumber(t *testing.T) {
	tenth, fifth := 0.1, 0.2 // variables: constant 0.1+0.2 would be exactly 0.3
	cases := []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1.5, "-1.5"},
		{0.1, "0.1"},
		{tenth + fifth, "0.30000000000000004"},
		{1e-6, "0.000001"},
		{1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"},
		{123456789, "123456789"},
		{2.0999999782928874e17, "209999997829288740"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1.2345e22, "1.2345e+22"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
	}
	for _, c := range cases {
		if got := FormatNumber(c.f); got != c.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

// TestFormatNumberMatchesNode prints the same numbers, spread over every
// notation range, with Go and with node, and compares the texts.
func TestFormatNumberMatchesNode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var nums []float64
	for e := -330; e <= 310; e += 3 {
		for range 4 {
			f := rng.Float64() * math.Pow(10, float64(e))
			if math.IsInf(f, 0) || f == 0 {
				continue
			}
			nums = append(nums, f, -f, math.Round(f))
		}
	}
	// JSON keeps every bit of a float64, so node parses the same values.
	js, err := json.Marshal(nums)
	if err != nil {
		t.Fatal(err)
	}
	out := runNode(t, "for (const x of "+string(js)+") console.log(String(x))")
	lines := strings.Split(out, "\n")
	if len(lines) != len(nums) {
		t.Fatalf("node printed %d lines for %d numbers", len(lines), len(nums))
	}
	for i, f := range nums {
		if got := FormatNumber(f); got != lines[i] {
			t.Errorf("FormatNumber(%v) = %q, node prints %q", f, got, lines[i])
		}
	}
}
