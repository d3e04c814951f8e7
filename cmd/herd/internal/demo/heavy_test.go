package demo

import (
	"context"
	"errors"
	"strconv"
	"testing"
)

func TestHeavyCalculationSmall(t *testing.T) {
	for _, limit := range []int64{0, 1, 2, 1000, 123457} {
		got, err := HeavyCalculation(context.Background(), 42, limit)
		if err != nil {
			t.Fatal(err)
		}
		// Below 2^53 every partial sum is exact: 42 * limit*(limit-1)/2.
		if want := float64(42 * limit * (limit - 1) / 2); got != want {
			t.Errorf("limit %d: got %v, want %v", limit, got, want)
		}
	}
}

// TestHeavyCalculationTutorial pins the tutorial's number: float64 rounding
// makes it differ from the exact 42*sum(0..1e8-1) = 209999995800000000.
func TestHeavyCalculationTutorial(t *testing.T) {
	got, err := HeavyCalculation(context.Background(), DefaultN, DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	if s := FormatNumber(got); s != "209999997829288740" {
		t.Fatalf("heavyCalculation(42) prints %s, want 209999997829288740", s)
	}
}

// TestHeavyCalculationMatchesNode runs the tutorial's loop in node and
// compares, for a bound where rounding already matters and for the
// tutorial's own.
func TestHeavyCalculationMatchesNode(t *testing.T) {
	for _, limit := range []int64{5_000_000, DefaultLimit} {
		want := runNode(t, "let r = 0; for (let i = 0; i < "+strconv.FormatInt(limit, 10)+"; i++) r += i * 42; console.log(r)")
		got, err := HeavyCalculation(context.Background(), 42, limit)
		if err != nil {
			t.Fatal(err)
		}
		if FormatNumber(got) != want {
			t.Errorf("limit %d: Go prints %s, node prints %s", limit, FormatNumber(got), want)
		}
	}
}

func TestHeavyCalculationCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := HeavyCalculation(ctx, 42, 1<<62) // would run for decades
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
