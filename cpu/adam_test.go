package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamKernels checks Adam's update through each kernel set's adam
// kernel (assembly and Go twin, whole vectors, the rest in Go) and the
// pure-Go path against optJob's Go loop, bitwise, on lengths around the
// vector widths, with weight decay or not, with guard values.
func TestAdamKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(20, 7))
	sets := testSets()
	for _, n := range []int{0, 1, 7, 8, 15, 16, 17, 33, 64, 100, 1000} {
		for _, wd := range []float32{0, 0.01} {
			p, _ := guarded(r, n, 0.1)
			g, _ := guarded(r, n, 0.2)
			m, _ := guarded(r, n, 0.1)
			v, _ := guarded(r, n, 0)
			for i := range v {
				v[i] = float32(math.Abs(float64(v[i]))) // a second moment
			}
			for _, ks := range sets {
				gotP, allP := guarded(r, n, 0)
				gotM, allM := guarded(r, n, 0)
				gotV, allV := guarded(r, n, 0)
				copy(gotP, p)
				copy(gotM, m)
				copy(gotV, v)
				wantP, wantM, wantV := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
				job := optJob{ks: ks, adam: true, p: gotP, g: g, m: gotM, v: gotV, wd: wd, b1: 0.9, b2: 0.999, eps: 1e-8,
					step: 0.001 / (1 - 0.9*0.9*0.9), bc2sqrt: float32(math.Sqrt(1 - 0.999*0.999*0.999))}
				ref := job
				ref.ks, ref.p, ref.m, ref.v = nil, wantP, wantM, wantV
				runInline(&job)
				runInline(&ref)
				for i := range wantP {
					if math.Float32bits(gotP[i]) != math.Float32bits(wantP[i]) || math.Float32bits(gotM[i]) != math.Float32bits(wantM[i]) ||
						math.Float32bits(gotV[i]) != math.Float32bits(wantV[i]) {
						t.Fatalf("%s adam n=%d wd=%g: p, m, v[%d] = %g, %g, %g; want %g, %g, %g", ks.name, n, wd, i,
							gotP[i], gotM[i], gotV[i], wantP[i], wantM[i], wantV[i])
					}
				}
				checkGuards(t, "adam p", allP, 0, n)
				checkGuards(t, "adam m", allM, 0, n)
				checkGuards(t, "adam v", allV, 0, n)
			}
		}
	}
}
