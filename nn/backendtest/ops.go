package backendtest

import (
	"fmt"
	"math"
	"testing"
)

// opShapes are the (rows, cols) the row-wise ops run on.
var opShapes = [][2]int{{1, 1}, {1, 784}, {3, 1}, {64, 10}, {65, 33}, {127, 31}, {64, 64}, {784, 65}, {2, 127}}

func (s *suite) testReLU(t *testing.T) {
	x := s.backend(t)
	r := newRand(4)
	for i, sh := range opShapes {
		n := sh[0] * sh[1]
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := x.with(t)
			xs := normals(r, n, 0.8)
			special := []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(-1)), float32(math.Inf(1))}
			for k := 0; k < len(special) && 7*k < n; k++ {
				xs[7*k] = special[k]
			}
			gx := x.guardF32(xs, layouts[i%len(layouts)])
			x.b.ReLU(gx.buf, n)
			x.sync()
			want := make([]float32, n)
			for k, v := range xs {
				want[k] = max(v, 0) // NaN stays NaN; −0 may stay −0 (it compares equal)
			}
			closeTo(t, "x", gx.values("x"), want, n, tolerance{})
		})
	}
}

func (s *suite) testReLUBackward(t *testing.T) {
	x := s.backend(t)
	r := newRand(5)
	for i, sh := range opShapes {
		n := sh[0] * sh[1]
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := x.with(t)
			grad := normals(r, n, 1)
			out := normals(r, n, 0.7) // zeros, negatives (not ReLU outputs, still "<= 0") and positives
			gg, gout := x.guardF32(grad, layouts[i%len(layouts)]), x.guardF32(out, layouts[(i+2)%len(layouts)])
			x.b.ReLUBackward(gg.buf, gout.buf, n)
			x.sync()
			want := make([]float32, n)
			for k := range want {
				if out[k] > 0 {
					want[k] = grad[k]
				}
			}
			closeTo(t, "grad", gg.values("grad"), want, n, tolerance{})
			gout.unchanged("out")
		})
	}
}

func (s *suite) testColumnSums(t *testing.T) {
	x := s.backend(t)
	r := newRand(6)
	for i, sh := range opShapes {
		rows, cols := sh[0], sh[1]
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			x := x.with(t)
			src := normals(r, rows*cols, 0.6)
			gd, gs := x.guardF32(nanSlice(cols), layouts[i%len(layouts)]), x.guardF32(src, layouts[(i+3)%len(layouts)])
			x.b.ColumnSums(gd.buf, gs.buf, rows, cols)
			x.sync()
			want := make([]float32, cols)
			scale := make([]float64, cols)
			for c := range cols {
				var sum, abs float64
				for row := range rows {
					v := float64(src[row*cols+c])
					sum += v
					abs += math.Abs(v)
				}
				want[c], scale[c] = float32(sum), abs
			}
			closeTo(t, "dst", gd.values("dst"), want, cols, tolerance{atol: 1e-6, rtol: sumTol(rows), scale: scale})
			gs.unchanged("src")
		})
	}
}

func (s *suite) testArgmax(t *testing.T) {
	x := s.backend(t)
	r := newRand(7)
	inf := float32(math.Inf(1))
	// Rows with ties: the first of the largest must win.
	tied := [][]float32{
		{1, 3, 3, 2},
		{5, 5, 5, 5},
		{-1, -1, -2, -3},
		{0, float32(math.Copysign(0, -1)), 0, 0}, // -0 ties with 0
		{-inf, -inf, -inf, -inf},
		{2, inf, 1, inf},
		{-3, -2, -2, -1e-30},
	}
	wantTied := []int32{1, 0, 0, 0, 0, 1, 3}
	t.Run("ties", func(t *testing.T) {
		x := x.with(t)
		var src []float32
		for _, row := range tied {
			src = append(src, row...)
		}
		dst := x.guardI32(make([]int32, len(tied)), layouts[1])
		x.b.Argmax(dst.buf, x.upload(src), len(tied), 4)
		x.sync()
		sameInts(t, "dst", dst.ints("dst"), wantTied)
	})
	for i, sh := range opShapes {
		rows, cols := sh[0], sh[1]
		t.Run(fmt.Sprintf("%dx%d", rows, cols), func(t *testing.T) {
			x := x.with(t)
			src := normals(r, rows*cols, 1)
			for k := range src { // coarse values so that ties happen
				src[k] = float32(math.Round(float64(src[k]) * 2))
			}
			gd := x.guardI32(make([]int32, rows), layouts[i%len(layouts)])
			gs := x.guardF32(src, layouts[(i+1)%len(layouts)])
			x.b.Argmax(gd.buf, gs.buf, rows, cols)
			x.sync()
			want := make([]int32, rows)
			for row := range rows {
				best := 0
				for c := range cols {
					if src[row*cols+c] > src[row*cols+best] {
						best = c
					}
				}
				want[row] = int32(best)
			}
			sameInts(t, "dst", gd.ints("dst"), want)
			gs.unchanged("src")
		})
	}
}
