package plots

import (
	"math"
	"strconv"
	"testing"
)

// TestDistinctTicks: the labelled ticks of a narrow range all differ, read
// back as their values, and use no more decimals than needed.
func TestDistinctTicks(t *testing.T) {
	for _, r := range [][2]float64{{98.63, 99.29}, {99.05, 99.38}, {95.47, 97.76}, {0.011, 0.2883}, {0, 100}, {97.7, 97.8}, {0.9863, 0.9929}} {
		ticks := (distinctTicks{}).Ticks(r[0], r[1])
		seen := map[string]bool{}
		n := 0
		for _, tk := range ticks {
			if tk.Label == "" {
				continue
			}
			n++
			if seen[tk.Label] {
				t.Errorf("range %v: label %q twice: %v", r, tk.Label, ticks)
			}
			seen[tk.Label] = true
			v, err := strconv.ParseFloat(tk.Label, 64)
			if err != nil || math.Abs(v-tk.Value) > 1e-9*math.Max(1, math.Abs(tk.Value)) {
				t.Errorf("range %v: label %q for value %g", r, tk.Label, tk.Value)
			}
		}
		if n < 2 {
			t.Errorf("range %v: %d labelled ticks: %v", r, n, ticks)
		}
	}
	if l := (distinctTicks{}).Ticks(0, 100); l[0].Label != "0" {
		t.Errorf("whole numbers get decimals: %v", l)
	}
}
