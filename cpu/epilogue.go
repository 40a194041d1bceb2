package cpu

import "math"

// epilogue writes GEMM results into C: C = α·T + β·C, then + bias, ReLU,
// mask (see nn.Gemm). With K split into blocks, the first block applies β,
// later blocks accumulate (β = 1), and only the last applies bias, ReLU and
// mask.
//
// Each stage is its own loop over the row: whether an element is negative
// or masked is as unpredictable as the data, so the loops select without
// branches, which a loop testing several options per element would defeat.
type epilogue struct {
	c           []float32 // M×N, row-major
	ldc         int       // N
	alpha, beta float32
	bias        []float32 // N, or nil
	relu        bool
	mask        []float32 // M×N, or nil
}

// storeRow writes t = T[i, q0:q0+len(t)] into row i of C.
func (e *epilogue) storeRow(i, q0 int, t []float32, first, last bool) {
	at := i*e.ldc + q0
	c := e.c[at : at+len(t)]
	beta := e.beta
	if !first {
		beta = 1
	}
	switch {
	case beta == 0 && e.alpha == 1:
		copy(c, t)
	case beta == 0:
		for x, v := range t {
			c[x] = e.alpha * v
		}
	default:
		for x, v := range t {
			c[x] = e.alpha*v + beta*c[x]
		}
	}
	if !last {
		return
	}
	if e.bias != nil {
		bias := e.bias[q0 : q0+len(c)]
		for x := range c {
			c[x] += bias[x]
		}
	}
	if e.relu {
		reluInPlace(c)
	}
	if e.mask != nil {
		maskInPlace(c, e.mask[at:at+len(c)])
	}
}

// storeColumn writes t = Cᵀ[i, q0:q0+len(t)], that is C[q0:q0+len(t), i],
// into column i of C.
func (e *epilogue) storeColumn(i, q0 int, t []float32, first, last bool) {
	ld := e.ldc
	at := q0*ld + i
	c := e.c[at : at+(len(t)-1)*ld+1]
	beta := e.beta
	if !first {
		beta = 1
	}
	switch {
	case beta == 0 && e.alpha == 1:
		for x, v := range t {
			c[x*ld] = v
		}
	case beta == 0:
		for x, v := range t {
			c[x*ld] = e.alpha * v
		}
	default:
		for x, v := range t {
			c[x*ld] = e.alpha*v + beta*c[x*ld]
		}
	}
	if !last {
		return
	}
	if e.bias != nil {
		bias := e.bias[i]
		for x := range t {
			c[x*ld] += bias
		}
	}
	if e.relu {
		for x := range t {
			c[x*ld] = relu(c[x*ld])
		}
	}
	if e.mask != nil {
		mask := e.mask[at : at+len(c)]
		for x := range t {
			c[x*ld] = masked(c[x*ld], mask[x*ld])
		}
	}
}

// storeColumns4 is storeColumn for the four adjacent columns i…i+3 of C,
// whose values are t[0…3]. For a plain product (a weight gradient) each row
// of C gets its four values in one contiguous write rather than four
// scattered ones; anything else goes column by column.
func (e *epilogue) storeColumns4(i, q0 int, t *[4][]float32, first, last bool) {
	if !first || e.beta != 0 || e.alpha != 1 || last && (e.bias != nil || e.relu || e.mask != nil) {
		for k := range t {
			e.storeColumn(i+k, q0, t[k], first, last)
		}
		return
	}
	n := len(t[0])
	t0, t1, t2, t3 := t[0][:n], t[1][:n], t[2][:n], t[3][:n]
	for x := range n {
		c := (*[4]float32)(e.c[(q0+x)*e.ldc+i:])
		c[0], c[1], c[2], c[3] = t0[x], t1[x], t2[x], t3[x]
	}
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
