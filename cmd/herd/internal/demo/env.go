package demo

import (
	"fmt"
	"math"
	"strconv"
)

// EnvLimit names the environment variable that sets Server.Limit in the
// programs built on this package (herd demo). It exists so
// tests can shrink the tutorial's 1e8 loop, or grow it to keep a request in
// flight; unset, the tutorial's bound is used.
const EnvLimit = "HERD_DEMO_LIMIT"

// ParseLimit parses a loop bound as EnvLimit holds it: "" means 0 (the
// default), else a positive whole number, in plain or exponent notation
// ("1000", "1e8").
func ParseLimit(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 1 || f != math.Trunc(f) || f > 1<<62 {
		return 0, fmt.Errorf("%s=%q: want a positive whole number such as 1000 or 1e8", EnvLimit, s)
	}
	return int64(f), nil
}

// ParsePort parses a TCP port number as the PORT variable holds it: ""
// means DefaultPort, else 0 (any free port) to 65535.
func ParsePort(s string) (int, error) {
	if s == "" {
		return DefaultPort, nil
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("port %q: want a number from 0 to 65535", s)
	}
	return p, nil
}
