package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// optimSteps is how many updates each optimiser test applies, each with a
// fresh gradient, so state (velocity, moments, the step count) is exercised.
const optimSteps = 5

// optimLen is the parameter count: not a multiple of any vector width.
const optimLen = 1031

func (s *suite) testSGD(t *testing.T) {
	x := s.backend(t)
	for i, tc := range []struct {
		lr, momentum, wd float32
		nesterov         bool
	}{
		{0.005, 0, 0, false}, // the tutorial's optimiser
		{0.1, 0.9, 0, false},
		{0.1, 0.9, 0, true},
		{0.05, 0, 1e-2, false},
		{0.05, 0.5, 1e-3, true},
		{0.2, 0.9, 5e-4, false},
	} {
		t.Run(fmt.Sprintf("lr=%g/momentum=%g/wd=%g/nesterov=%v", tc.lr, tc.momentum, tc.wd, tc.nesterov), func(t *testing.T) {
			x := x.with(t)
			r := newRand(10 + uint64(i))
			p := normals(r, optimLen, 1)
			want := make([]float64, optimLen)
			vel := make([]float64, optimLen)
			for k, v := range p {
				want[k] = float64(v)
			}
			lay := func(j int) layout { return layouts[(i+j)%len(layouts)] }
			gp := x.guardF32(p, lay(0))
			pbuf := exactSlice(gp)
			var gv *guarded
			var vbuf nn.Buffer
			if tc.momentum != 0 {
				gv = x.guardF32(make([]float32, optimLen), lay(1))
				vbuf = exactSlice(gv)
			}
			for step := range optimSteps {
				g := normals(r, optimLen, 0.9)
				x.b.SGD(pbuf, x.upload(g), vbuf, tc.lr, tc.momentum, tc.wd, tc.nesterov)
				for k := range want {
					d := float64(g[k]) + float64(tc.wd)*want[k]
					if tc.momentum != 0 {
						vel[k] = float64(tc.momentum)*vel[k] + d
						if tc.nesterov {
							d += float64(tc.momentum) * vel[k]
						} else {
							d = vel[k]
						}
					}
					want[k] -= float64(tc.lr) * d
				}
				x.sync()
				checkOptim(t, fmt.Sprintf("params after step %d", step+1), gp.values("params"), want)
				if gv != nil {
					checkOptim(t, fmt.Sprintf("velocity after step %d", step+1), gv.values("velocity"), vel)
				}
			}
		})
	}
}

func (s *suite) testAdam(t *testing.T) {
	x := s.backend(t)
	for i, tc := range []struct {
		lr, b1, b2, eps, wd float32
	}{
		{1e-3, 0.9, 0.999, 1e-8, 0}, // torch's defaults
		{1e-2, 0.8, 0.99, 1e-6, 1e-2},
		{0.1, 0.5, 0.9, 1e-3, 0},
	} {
		t.Run(fmt.Sprintf("lr=%g/betas=%g,%g/eps=%g/wd=%g", tc.lr, tc.b1, tc.b2, tc.eps, tc.wd), func(t *testing.T) {
			x := x.with(t)
			r := newRand(20 + uint64(i))
			p := normals(r, optimLen, 1)
			want := make([]float64, optimLen)
			m := make([]float64, optimLen)
			v := make([]float64, optimLen)
			for k, pv := range p {
				want[k] = float64(pv)
			}
			lay := func(j int) layout { return layouts[(i+j)%len(layouts)] }
			gp, gm, gv := x.guardF32(p, lay(0)), x.guardF32(make([]float32, optimLen), lay(1)), x.guardF32(make([]float32, optimLen), lay(2))
			for step := 1; step <= optimSteps; step++ {
				g := normals(r, optimLen, 0.9)
				x.b.Adam(exactSlice(gp), x.upload(g), exactSlice(gm), exactSlice(gv), tc.lr, tc.b1, tc.b2, tc.eps, tc.wd, step)
				b1, b2 := float64(tc.b1), float64(tc.b2)
				bc1 := 1 - math.Pow(b1, float64(step))
				bc2 := 1 - math.Pow(b2, float64(step))
				for k := range want {
					d := float64(g[k]) + float64(tc.wd)*want[k]
					m[k] = b1*m[k] + (1-b1)*d
					v[k] = b2*v[k] + (1-b2)*d*d
					want[k] -= float64(tc.lr) * (m[k] / bc1) / (math.Sqrt(v[k]/bc2) + float64(tc.eps))
				}
				x.sync()
				checkOptim(t, fmt.Sprintf("params after step %d", step), gp.values("params"), want)
				checkOptim(t, fmt.Sprintf("m after step %d", step), gm.values("m"), m)
				checkOptim(t, fmt.Sprintf("v after step %d", step), gv.values("v"), v)
			}
		})
	}
}

// exactSlice returns a view of exactly the operand: the optimisers require
// all their buffers to have equal lengths, so no long views here.
func exactSlice(g *guarded) nn.Buffer { return g.base.Slice(g.lay.pre, g.n) }

// checkOptim compares float32 optimiser state with the float64 formula:
// each step rounds a handful of times, so a few ulp of the magnitude, over a
// few steps, plus an absolute floor for values that cancel to near zero.
func checkOptim(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	w := make([]float32, len(want))
	scale := make([]float64, len(want))
	for k, v := range want {
		w[k] = float32(v)
		scale[k] = math.Abs(v)
	}
	closeTo(t, what, got, w, len(got), tolerance{atol: 1e-6, rtol: 64 * unitRoundoff, scale: scale})
}
