package digitize

import "testing"

// A model of another image size gets the digit in MNIST's proportion of
// its own size, so that predict and serve work for any model.
func TestDefaultBoxFor(t *testing.T) {
	for _, c := range []struct{ rows, cols, want int }{{28, 28, 20}, {32, 32, 23}, {20, 20, 14}, {16, 16, 11}, {20, 32, 14}, {1, 1, 1}} {
		if got := DefaultBoxFor(c.rows, c.cols); got != c.want {
			t.Errorf("DefaultBoxFor(%d, %d) = %d, want %d", c.rows, c.cols, got, c.want)
		}
		o, err := Options{Rows: c.rows, Cols: c.cols}.resolve()
		if err != nil || o.Box != c.want {
			t.Errorf("%d×%d: box %d, err %v", c.rows, c.cols, o.Box, err)
		}
	}
}
