package cpu

import "math"

// epilogue is what a GEMM writes into C besides the product: C = α·S·D +
// β·C, then + bias, ReLU, mask (see nn.Gemm). The GEMM driver (gemm.go)
// turns it into the kernels' store flags; scaleJob applies it alone when
// there is no product.
type epilogue struct {
	c           []float32 // M×N, row-major
	ldc         int       // N
	alpha, beta float32
	bias        []float32 // N, or nil
	relu        bool
	mask        []float32 // M×N, or nil
}

// relu returns max(v, 0), keeping NaN, without a branch.
func relu(v float32) float32 {
	vb := math.Float32bits(v)
	if v < 0 {
		vb = 0
	}
	return math.Float32frombits(vb)
}

// masked returns v where m > 0, else 0, without a branch.
func masked(v, m float32) float32 {
	vb := math.Float32bits(v)
	if !(m > 0) {
		vb = 0
	}
	return math.Float32frombits(vb)
}

// reluInPlace sets c[x] = max(c[x], 0), keeping NaN.
func reluInPlace(c []float32) {
	for x, v := range c {
		c[x] = relu(v)
	}
}

// maskInPlace zeroes c[x] unless mask[x] > 0.
func maskInPlace(c, mask []float32) {
	mask = mask[:len(c)]
	for x, m := range mask {
		c[x] = masked(c[x], m)
	}
}

// scaleJob is a GEMM without a product (K = 0 or α = 0): C = β·C, then the
// epilogue.
type scaleJob struct {
	e    epilogue
	m, n int
}

func (s *scaleJob) chunks() (int, int) { return chunkCount(s.m, rowsPerChunk(s.n)), 0 }

func (s *scaleJob) do(w, phase, c int) {
	e := &s.e
	lo, hi := chunkRange(c, s.m, rowsPerChunk(s.n))
	for i := lo; i < hi; i++ {
		c := e.c[i*e.ldc : (i+1)*e.ldc]
		if e.beta == 0 {
			clear(c) // ignores NaN in C
		} else {
			for x := range c {
				c[x] *= e.beta
			}
		}
		if e.bias != nil {
			for x := range c {
				c[x] += e.bias[x]
			}
		}
		if e.relu {
			reluInPlace(c)
		}
		if e.mask != nil {
			maskInPlace(c, e.mask[i*e.ldc:(i+1)*e.ldc])
		}
	}
}
