package backendtest

import (
	"fmt"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// testGather builds batches from a uint8 data set through a permutation,
// with normalisation, at several starts, and compares with the formula:
// x[r,j] = float32(images[i·pixels+j])·scale + shift, y[r] = labels[i],
// i = order[start+r]. The images use every byte value.
func (s *suite) testGather(t *testing.T) {
	x := s.backend(t)
	r := newRand(9)
	const n = 300
	for i, tc := range []struct {
		pixels, start, rows int
		scale, shift        float32
	}{
		{784, 0, 64, 1.0 / 255, 0},
		{784, 236, 64, 1 / (255 * 0.3081), -0.1307 / 0.3081}, // torchvision's MNIST normalisation
		{31, 299, 1, 1, 0},
		{1, 5, 33, -2, 0.5},
		{65, 10, 127, 1.0 / 255, -0.5},
		{10, 0, 0, 1, 0},
	} {
		t.Run(fmt.Sprintf("pixels=%d/start=%d/rows=%d", tc.pixels, tc.start, tc.rows), func(t *testing.T) {
			x := x.with(t)
			images := make([]uint8, n*tc.pixels)
			for k := range images {
				images[k] = uint8(k*7 + k/256) // every byte value, in varying order
				if r.IntN(4) == 0 {
					images[k] = uint8(r.IntN(256))
				}
			}
			labels := make([]uint8, n)
			for k := range labels {
				labels[k] = uint8(r.IntN(10))
			}
			order := make([]int32, n)
			for k, v := range r.Perm(n) {
				order[k] = int32(v)
			}
			lay := func(j int) layout { return layouts[(i+j)%len(layouts)] }
			gx := x.guardF32(nanSlice(tc.rows*tc.pixels), lay(0))
			gy := x.guardI32(make([]int32, tc.rows), lay(1))
			imgBuf, labBuf, ordBuf := x.upload(images), x.upload(labels), x.upload(order)
			x.b.Gather(gx.buf, gy.buf, imgBuf, labBuf, ordBuf, tc.start, tc.rows, tc.pixels, tc.scale, tc.shift)
			x.sync()

			wantX := make([]float32, tc.rows*tc.pixels)
			wantY := make([]int32, tc.rows)
			for row := range tc.rows {
				img := int(order[tc.start+row])
				for j := range tc.pixels {
					wantX[row*tc.pixels+j] = float32(float32(images[img*tc.pixels+j])*tc.scale) + tc.shift
				}
				wantY[row] = int32(labels[img])
			}
			// One rounding of a product and one of a sum: a fused multiply-add
			// may differ from the twice-rounded formula by an ulp of the terms.
			scale := make([]float64, len(wantX))
			for k := range scale {
				scale[k] = abs64(float64(wantX[k])) + abs64(float64(tc.shift))
			}
			closeTo(t, "x", gx.values("x"), wantX, tc.pixels, tolerance{rtol: 2 * unitRoundoff, scale: scale})
			sameInts(t, "y", gy.ints("y"), wantY)
			for _, b := range []nn.Buffer{imgBuf, labBuf, ordBuf, gx.base, gy.base} {
				x.b.Free(b)
			}
		})
	}
}

func abs64(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
