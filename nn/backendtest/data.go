package backendtest

import (
	"math"
	"math/rand/v2"
)

// newRand returns the suite's seeded generator; every table derives its
// inputs from a fixed seed so failures reproduce.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x6d6e697374)) // "mnist"
}

// normals returns n values from N(0, 1), each replaced by an exact zero with
// probability 1 − density (MNIST inputs are 81% zeros; ReLU outputs and
// masked gradients about half).
func normals(r *rand.Rand, n int, density float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		if density >= 1 || r.Float64() < density {
			out[i] = float32(r.NormFloat64())
		}
	}
	return out
}

// uniforms returns n values uniform in [lo, hi).
func uniforms(r *rand.Rand, n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*r.Float64())
	}
	return out
}

// filled returns n copies of v.
func filled(n int, v float32) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// nanSlice returns n NaNs: the content of an output that must be ignored.
func nanSlice(n int) []float32 { return filled(n, float32(math.NaN())) }

// unitRoundoff is u = 2⁻²⁴, the relative rounding error of float32.
const unitRoundoff = 1.0 / (1 << 24)

// sumTol returns the relative tolerance for a float32 sum of n terms,
// twice the worst-case bound of any summation order plus a few roundings.
func sumTol(n int) float64 { return 2 * float64(n+3) * unitRoundoff }

// tolerance is atol + rtol·scale[i] for element i (scale nil means 1).
type tolerance struct {
	atol, rtol float64
	scale      []float64
}

func (t tolerance) at(i int) float64 {
	s := 1.0
	if t.scale != nil {
		s = t.scale[i]
	}
	return t.atol + t.rtol*s
}
