package backendtest

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// sentinel fills guard regions; any change to it means an op wrote outside
// the elements it was given.
const (
	sentinel    float32 = -31337.25
	sentinelI32 int32   = -123456789
)

// maxReported bounds the mismatches listed per comparison.
const maxReported = 6

// closeTo reports every element of got that differs from want by more than
// tol allows, naming it by (row, col) of a cols-wide matrix. NaN matches only
// NaN, an infinity only itself.
func closeTo(t *testing.T, what string, got, want []float32, cols int, tol tolerance) bool {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d elements, want %d", what, len(got), len(want))
		return false
	}
	var bad []string
	n := 0
	worst := 0.0
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if g == w || math.IsNaN(g) && math.IsNaN(w) {
			continue // equal, infinities and zeros of either sign included
		}
		d := math.Abs(g - w)
		lim := tol.at(i)
		if math.IsNaN(d) || d > lim || (math.IsInf(w, 0) && g != w) {
			n++
			if d/lim > worst || math.IsNaN(d) {
				worst = d / lim
			}
			if len(bad) < maxReported {
				bad = append(bad, fmt.Sprintf("[%d,%d] got %.9g want %.9g (|diff| %.3g > tol %.3g)", i/max(cols, 1), i%max(cols, 1), g, w, d, lim))
			}
		}
	}
	if n > 0 {
		t.Errorf("%s: %d of %d elements out of tolerance (worst %.3g× tol):\n\t%s", what, n, len(got), worst, strings.Join(bad, "\n\t"))
		return false
	}
	return true
}

// sameBits reports elements of got that are not bit-identical to want.
func sameBits(t *testing.T, what string, got, want []float32) bool {
	t.Helper()
	var bad []string
	n := 0
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			n++
			if len(bad) < maxReported {
				bad = append(bad, fmt.Sprintf("[%d] got %.9g want %.9g", i, got[i], want[i]))
			}
		}
	}
	if n > 0 {
		t.Errorf("%s: %d of %d elements changed:\n\t%s", what, n, len(got), strings.Join(bad, "\n\t"))
		return false
	}
	return true
}

// sameInts reports elements of got that differ from want.
func sameInts(t *testing.T, what string, got, want []int32) bool {
	t.Helper()
	var bad []string
	n := 0
	for i := range got {
		if got[i] != want[i] {
			n++
			if len(bad) < maxReported {
				bad = append(bad, fmt.Sprintf("[%d] got %d want %d", i, got[i], want[i]))
			}
		}
	}
	if n > 0 {
		t.Errorf("%s: %d of %d elements differ:\n\t%s", what, n, len(got), strings.Join(bad, "\n\t"))
		return false
	}
	return true
}
