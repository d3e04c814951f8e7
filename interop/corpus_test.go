package interop_test

import (
	_ "embed"
	"encoding/json"
	"strings"
)

// valuesJSON is the corpus testdata/scenarios.js reads too.
//
//go:embed testdata/values.json
var valuesJSON []byte

// corpus returns the values both sides send: those of values.json, a deep
// nesting, and a large string alone and inside an object. Numbers are
// float64, as json.Unmarshal into an any gives them.
func corpus() []any {
	var doc struct {
		Values     []any `json:"values"`
		DeepLevels int   `json:"deepLevels"`
		Big        struct {
			Pattern string `json:"pattern"`
			Repeat  int    `json:"repeat"`
		} `json:"big"`
	}
	if err := json.Unmarshal(valuesJSON, &doc); err != nil {
		panic("testdata/values.json: " + err.Error())
	}
	big := strings.Repeat(doc.Big.Pattern, doc.Big.Repeat)
	// JavaScript's length counts UTF-16 code units.
	units := 0
	for _, r := range big {
		units++
		if r > 0xFFFF {
			units++
		}
	}
	return append(doc.Values, deep(doc.DeepLevels), big, map[string]any{"big": big, "length": float64(units)})
}

// deep nests "bottom" levels deep, alternating objects and arrays, as
// deep() in testdata/scenarios.js does.
func deep(levels int) any {
	var v any = "bottom"
	for i := range levels {
		if i%2 == 1 {
			v = []any{v}
		} else {
			v = map[string]any{"level": float64(i), "v": v}
		}
	}
	return v
}

// pseudoRandom returns n bytes of xorshift32 output from seed, as
// pseudoRandom() in testdata/scenarios.js does.
func pseudoRandom(n int, seed uint32) []byte {
	b := make([]byte, n)
	x := seed
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// bytePayloads are the buffers sent both ways by the bytes scenario.
func bytePayloads() [][]byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	return [][]byte{{}, all, pseudoRandom(65536, 1), pseudoRandom(300000, 2)}
}
