package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// randomConvGeom returns a small convolution of any shape: channels 1 to
// 9, kernels up to 9×9 (beyond maxTaps too), strides up to 3, padding up to
// the kernel.
func randomConvGeom(r *rand.Rand) nn.ConvGeom {
	for {
		g := nn.ConvGeom{Batch: 1 + r.IntN(3), H: 1 + r.IntN(12), W: 1 + r.IntN(12), C: 1 + r.IntN(9),
			KH: 1 + r.IntN(9), KW: 1 + r.IntN(9), Stride: 1 + r.IntN(3)}
		g.Pad = r.IntN(min(g.KH, g.KW))
		if g.Validate() == nil && g.OutH() > 0 && g.OutW() > 0 {
			return g
		}
	}
}

func bitsEqual(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

// oneWorker returns the scratch of one worker for g's im2col and col2im
// jobs: its planes and the run offsets.
func oneWorker(g nn.ConvGeom) ([][]float32, []int) {
	var s convScratch
	return s.planesFor(1, g), s.runOffsets(g)
}

// TestIm2ColFastPaths checks the im2col job (which reads the image through
// padded planes) against im2colRow on every row, bitwise, on fuzzed shapes
// (padding, strides, kernels of 1 to 9 taps a side), with guard values
// around the column matrix.
func TestIm2ColFastPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 1))
	geoms := []nn.ConvGeom{
		{Batch: 2, H: 28, W: 28, C: 1, KH: 5, KW: 5, Stride: 1},
		{Batch: 2, H: 12, W: 12, C: 32, KH: 5, KW: 5, Stride: 1},
		{Batch: 2, H: 9, W: 10, C: 3, KH: 5, KW: 5, Stride: 1, Pad: 2},
	}
	for range 300 {
		geoms = append(geoms, randomConvGeom(r))
	}
	sets := testSets() // each set's copyRuns, and the Go loops
	for gi, g := range geoms {
		x, _ := guarded(r, g.InputLen(), 0.2)
		cols, all := guarded(r, g.Rows()*g.Cols(), 0)
		j := im2colJob{ks: sets[gi%len(sets)], cols: cols, x: x, g: g}
		j.planes, j.runs = oneWorker(g)
		runInline(&j)
		checkGuards(t, "im2col", all, 0, len(cols))
		oh, ow, k := g.OutH(), g.OutW(), g.Cols()
		want := make([]float32, k)
		for row := 0; row < g.Rows(); row++ {
			n, y, xx := row/(oh*ow), row/ow%oh, row%ow
			im2colRow(want, x[n*g.H*g.W*g.C:(n+1)*g.H*g.W*g.C], g, y*g.Stride-g.Pad, xx*g.Stride-g.Pad)
			for i, v := range want {
				if got := cols[row*k+i]; !bitsEqual(got, v) {
					t.Fatalf("%s kernels, %+v: cols[%d, %d] = %g, want %g", j.ks.name, g, row, i, got, v)
				}
			}
		}
	}
}

// TestCol2ImFastPaths checks the col2im job (planes, and addRunPairs5
// or the kernel set's addRunPairs for rows of stride-1 windows) against
// row, bitwise, on fuzzed shapes (including overlapping and skipping
// strides), with each kernel set's runs, with guards.
func TestCol2ImFastPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 2))
	geoms := []nn.ConvGeom{
		{Batch: 2, H: 12, W: 12, C: 32, KH: 5, KW: 5, Stride: 1},
		{Batch: 2, H: 9, W: 10, C: 3, KH: 5, KW: 5, Stride: 1, Pad: 2}, // addRunPairs5, an odd row of windows
	}
	for range 300 {
		geoms = append(geoms, randomConvGeom(r))
	}
	sets := testSets() // each set's addRuns and addRunPairs, and the Go loops
	for gi, g := range geoms {
		cols, _ := guarded(r, g.Rows()*g.Cols(), 0.3)
		got, allGot := guarded(r, g.InputLen(), 0)
		want, _ := guarded(r, g.InputLen(), 0)
		fast := col2imJob{ks: sets[gi%len(sets)], dx: got, cols: cols, g: g}
		fast.planes, fast.runs = oneWorker(g)
		ref := col2imJob{dx: want, cols: cols, g: g}
		runInline(&fast)
		for c := 0; c < g.Batch*g.H; c++ {
			ref.row(c)
		}
		checkGuards(t, "col2im", allGot, 0, len(got))
		for i := range want {
			if !bitsEqual(got[i], want[i]) {
				t.Fatalf("%s kernels, %+v: dx[%d] = %g, want %g", fast.ks.name, g, i, got[i], want[i])
			}
		}
	}
}

// TestMaxPoolFastPaths checks forwardImage and backwardImage (with each
// kernel set's windowMax and windowScatter, assembly and Go twins, for
// whole vectors of channels) against image, bitwise (maxima, argmax with ties and NaN, summed gradients of
// overlapping windows), on fuzzed shapes, with guards.
func TestMaxPoolFastPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 3))
	sets := testSets() // windowMax of every kernel set and its Go twins; none on the go path
	geoms := []nn.PoolGeom{{Batch: 2, H: 24, W: 24, C: 32, Size: 2, Stride: 2}, {Batch: 2, H: 8, W: 8, C: 64, Size: 2, Stride: 2}}
	for range 400 {
		g := nn.PoolGeom{Batch: 1 + r.IntN(3), H: 1 + r.IntN(12), W: 1 + r.IntN(12), C: 1 + r.IntN(40), Size: 1 + r.IntN(9), Stride: 1 + r.IntN(3)}
		if g.Size <= g.H && g.Size <= g.W {
			geoms = append(geoms, g)
		}
	}
	for _, g := range geoms {
		x, _ := guarded(r, g.InputLen(), 0.1)
		for i := range x {
			switch r.IntN(20) {
			case 0:
				x[i] = float32(math.NaN())
			case 1:
				x[i] = 1 // ties
			}
		}
		outLen := g.Batch * g.OutH() * g.OutW() * g.C
		y, allY := guarded(r, outLen, 0)
		yRef, _ := guarded(r, outLen, 0)
		arg := make([]int32, outLen)
		argRef := make([]int32, outLen)
		for _, withArg := range []bool{false, true} {
			ks := sets[r.IntN(len(sets))]
			fast := newPoolJob(ks, false, x, y, nil, g)
			ref := newPoolJob(nil, false, x, yRef, nil, g)
			if withArg {
				fast.argmax, ref.argmax = arg, argRef
			}
			for n := 0; n < g.Batch; n++ {
				fast.do(0, 0, n)
				ref.image(n)
			}
			checkGuards(t, "maxpool", allY, 0, len(y))
			for i := range y {
				if !bitsEqual(y[i], yRef[i]) || arg[i] != argRef[i] {
					t.Fatalf("%+v (argmax %v, %s kernels): y[%d], argmax = %g, %d; want %g, %d", g, withArg, ks.name, i, y[i], arg[i], yRef[i], argRef[i])
				}
			}
		}
		dy, _ := guarded(r, outLen, 0.2)
		for i := range dy {
			if r.IntN(10) == 0 {
				dy[i] = float32(math.Copysign(0, -1)) // -0: the sum from +0 is +0
			}
		}
		dx, allDx := guarded(r, g.InputLen(), 0)
		dxRef, _ := guarded(r, g.InputLen(), 0)
		ks := sets[r.IntN(len(sets))]
		fast := newPoolJob(ks, true, dx, dy, arg, g)
		ref := newPoolJob(nil, true, dxRef, dy, arg, g)
		for n := 0; n < g.Batch; n++ {
			fast.do(0, 0, n)
			ref.image(n)
		}
		checkGuards(t, "maxpool backward", allDx, 0, len(dx))
		for i := range dx {
			if !bitsEqual(dx[i], dxRef[i]) {
				t.Fatalf("%+v backward (%s kernels): dx[%d] = %g, want %g", g, ks.name, i, dx[i], dxRef[i])
			}
		}
	}
}

// TestRunKernels checks every kernel set's copyRuns, addRuns and
// addRunPairs against their reference loops, bitwise: runs of 1 to 8
// floats (7 for pairs) at random, even overlapping, offsets, values
// with ±0 and NaN, and guards around what they write.
func TestRunKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 9))
	for _, ks := range testSets() {
		if ks.copyRuns == nil {
			continue
		}
		for trial := 0; trial < 300; trial++ {
			kw, n := 1+trial%runLanes, r.IntN(12)
			if trial%7 == 0 {
				n = 0
			}
			name := fmt.Sprintf("%s kw=%d n=%d", ks.name, kw, n)
			const plane = 200
			runs := make([]int, max(n, 1))
			for i := range runs {
				runs[i] = r.IntN(plane - kw)
			}
			odd := func(x []float32) {
				for i := range x {
					switch r.IntN(12) {
					case 0:
						x[i] = float32(math.Copysign(0, -1))
					case 1:
						x[i] = 0
					case 2:
						x[i] = float32(math.NaN())
					}
				}
			}
			src, _ := guarded(r, plane, 0)
			odd(src)
			row, allRow := guarded(r, n*kw, 0)
			odd(row)

			// copyRuns: the planes' runs into a row.
			got, all := guarded(r, n*kw, 0)
			want := append([]float32(nil), got...)
			ks.copyRuns(&got[:1][0], &src[0], &runs[0], n, kw, 0)
			for i := 0; i < n; i++ {
				copy(want[i*kw:(i+1)*kw], src[runs[i]:runs[i]+kw])
			}
			checkGuards(t, name+" copyRuns", all, 0, n*kw)
			checkBits(t, name+" copyRuns", got, want)

			// addRuns: a row's runs added into the planes.
			dst, allDst := guarded(r, plane, 0)
			odd(dst)
			want = append([]float32(nil), dst...)
			ks.addRuns(&dst[0], &row[:1][0], &runs[0], n, kw)
			for i := 0; i < n; i++ {
				for t := 0; t < kw; t++ {
					want[runs[i]+t] += row[i*kw+t]
				}
			}
			checkGuards(t, name+" addRuns", allDst, 0, plane)
			checkGuards(t, name+" addRuns (source)", allRow, 0, n*kw)
			checkBits(t, name+" addRuns", dst, want)

			// addRunPairs: two stride-1 neighbours' rows.
			if kw >= runLanes {
				continue
			}
			hi, _ := guarded(r, n*kw, 0)
			odd(hi)
			dst, allDst = guarded(r, plane, 0)
			odd(dst)
			want = append([]float32(nil), dst...)
			ks.addRunPairs(&dst[0], &row[:1][0], &hi[:1][0], &runs[0], n, kw)
			for i := 0; i < n; i++ {
				d := want[runs[i]:]
				for t := 0; t <= kw; t++ {
					v := d[t]
					if t > 0 {
						v += hi[i*kw+t-1]
					}
					if t < kw {
						v += row[i*kw+t]
					}
					d[t] = v
				}
			}
			checkGuards(t, name+" addRunPairs", allDst, 0, plane)
			checkBits(t, name+" addRunPairs", dst, want)
		}
	}
}

// checkBits fails unless got and want hold the same bits.
func checkBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if !bitsEqual(got[i], want[i]) {
			t.Fatalf("%s: element %d is %g (%#x), want %g (%#x)", what, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}
