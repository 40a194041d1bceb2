package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// gemmCase is one row of the Gemm table.
type gemmCase struct {
	m, n, k        int
	transA, transB bool
	gemmVariant
	densA, densB float64 // fraction of nonzero elements in A and B
}

// gemmVariant is the scalar and epilogue part of a case.
type gemmVariant struct {
	alpha, beta      float32
	bias, relu, mask bool
}

func (c gemmCase) String() string {
	t := [2]string{"N", "T"}
	s := fmt.Sprintf("%dx%dx%d/%s%s/a%gb%g", c.m, c.n, c.k, t[b2i(c.transA)], t[b2i(c.transB)], c.alpha, c.beta)
	if c.bias {
		s += "+bias"
	}
	if c.relu {
		s += "+relu"
	}
	if c.mask {
		s += "+mask"
	}
	if c.densA < 1 {
		s += fmt.Sprintf("/A%.0f%%", 100*c.densA)
	}
	if c.densB < 1 {
		s += fmt.Sprintf("/B%.0f%%", 100*c.densB)
	}
	return s
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// gemmVariants covers α and β of 0, 1 and other values, with and without each
// epilogue stage.
var gemmVariants = []gemmVariant{
	{alpha: 1, beta: 0},
	{alpha: 1, beta: 1},
	{alpha: 0.5, beta: -1.5},
	{alpha: 0, beta: 0.75},
	{alpha: -2, beta: 0, bias: true},
	{alpha: 1, beta: 0, bias: true, relu: true},
	{alpha: 1, beta: 0.5, mask: true},
	{alpha: 0.7, beta: 1, bias: true, relu: true, mask: true},
	{alpha: 1, beta: 0, mask: true},
	{alpha: 0, beta: 0, bias: true, relu: true},
	{alpha: 1.25, beta: 0, relu: true},
}

// awkward are sizes that are not multiples of any tile, around the sizes of
// the tutorial network.
var awkward = []int{1, 2, 10, 31, 32, 33, 64, 65, 127, 784}

var transposes = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// gemmCases builds the table: every awkward size in every position under
// every transpose, the tutorial network's shapes with its epilogues and
// sparsity, every variant under every transpose, and extreme sparsity.
func gemmCases() []gemmCase {
	var cases []gemmCase
	dens := []float64{1, 1, 0.19, 0.5, 0.05}
	i := 0
	add := func(m, n, k int, tr [2]bool) {
		cases = append(cases, gemmCase{m: m, n: n, k: k, transA: tr[0], transB: tr[1],
			gemmVariant: gemmVariants[i%len(gemmVariants)], densA: dens[i%len(dens)], densB: dens[(i/2+1)%len(dens)]})
		i++
	}
	for _, v := range awkward {
		for _, tr := range transposes {
			add(v, 33, 31, tr)
			add(31, v, 33, tr)
			add(33, 31, v, tr)
		}
	}
	for _, v := range gemmVariants {
		for _, tr := range transposes {
			cases = append(cases, gemmCase{m: 33, n: 65, k: 31, transA: tr[0], transB: tr[1], gemmVariant: v, densA: 1, densB: 1})
		}
	}
	fwd := gemmVariant{alpha: 1, bias: true, relu: true}
	logits := gemmVariant{alpha: 1, bias: true}
	wgrad := gemmVariant{alpha: 1}
	accum := gemmVariant{alpha: 1, beta: 1}
	xgrad := gemmVariant{alpha: 1, mask: true}
	nt, tn, nn := [2]bool{false, true}, [2]bool{true, false}, [2]bool{false, false}
	hot := []struct {
		m, n, k      int
		tr           [2]bool
		v            gemmVariant
		densA, densB float64
	}{
		{64, 64, 784, nt, fwd, 0.19, 1},
		{64, 32, 64, nt, fwd, 0.5, 1},
		{64, 10, 32, nt, logits, 0.5, 1},
		{64, 784, 64, tn, wgrad, 0.5, 0.19},
		{64, 784, 64, tn, accum, 0.5, 0.19},
		{32, 64, 64, tn, wgrad, 0.5, 0.5},
		{10, 32, 64, tn, wgrad, 1, 0.5},
		{64, 64, 32, nn, xgrad, 0.5, 1},
		{64, 32, 10, nn, xgrad, 1, 1},
		{127, 65, 784, nt, fwd, 0.19, 1},
		{65, 784, 127, tn, wgrad, 1, 0.19},
		{64, 64, 784, nt, fwd, 1, 1},
		{64, 784, 64, tn, wgrad, 1, 1},
		{64, 64, 784, nt, fwd, 0, 1},
		{64, 784, 64, tn, accum, 1, 0},
		{64, 64, 784, nt, fwd, 0.01, 0.01},
		{31, 784, 65, tn, fwd, 0.05, 0.5},
	}
	for _, h := range hot {
		cases = append(cases, gemmCase{m: h.m, n: h.n, k: h.k, transA: h.tr[0], transB: h.tr[1], gemmVariant: h.v, densA: h.densA, densB: h.densB})
	}
	return cases
}

func (s *suite) testGemm(t *testing.T) {
	x := s.backend(t)
	ref := reference(t)
	r := newRand(1)
	for i, c := range gemmCases() {
		t.Run(c.String(), func(t *testing.T) {
			runGemm(x.with(t), ref.with(t), c, r, i)
		})
		if t.Failed() && x.b.Sync() != nil {
			return // a sticky error fails every later case the same way
		}
	}
}

// gemmInputs are a case's host-side operands.
type gemmInputs struct {
	a, b, c0, bias, mask []float32
}

func newGemmInputs(r *rand.Rand, c gemmCase) gemmInputs {
	in := gemmInputs{
		a: normals(r, c.m*c.k, c.densA),
		b: normals(r, c.k*c.n, c.densB),
	}
	if c.beta == 0 {
		in.c0 = nanSlice(c.m * c.n) // β = 0 must ignore C, NaN included
	} else {
		in.c0 = normals(r, c.m*c.n, 1)
	}
	if c.bias {
		in.bias = normals(r, c.n, 1)
	}
	if c.mask {
		// A ReLU output: about half zeros, the rest positive, plus a
		// few negative values (also "not > 0").
		in.mask = normals(r, c.m*c.n, 1)
		for i, v := range in.mask {
			if v < 0 && i%5 != 0 {
				in.mask[i] = 0
			}
		}
	}
	return in
}

// gemmScale returns, per element of C, the magnitude the tolerance is
// relative to: |α|·Σ_k|op(A)[i,k]·op(B)[k,j]| + |β·C[i,j]| + |bias[j]|.
func gemmScale(c gemmCase, in gemmInputs) []float64 {
	out := make([]float64, c.m*c.n)
	for i := 0; i < c.m; i++ {
		for j := 0; j < c.n; j++ {
			var s float64
			for p := 0; p < c.k; p++ {
				s += math.Abs(float64(elem(in.a, c.transA, i, p, c.m, c.k)) * float64(elem(in.b, c.transB, p, j, c.k, c.n)))
			}
			s *= math.Abs(float64(c.alpha))
			if c.beta != 0 {
				s += math.Abs(float64(c.beta) * float64(in.c0[i*c.n+j]))
			}
			if c.bias {
				s += math.Abs(float64(in.bias[j]))
			}
			out[i*c.n+j] = s
		}
	}
	return out
}

// elem returns op(X)[r, q] of a matrix that is rows×cols after op, stored
// row-major as cols×rows when trans is set.
func elem(x []float32, trans bool, r, q, rows, cols int) float32 {
	if trans {
		return x[q*rows+r]
	}
	return x[r*cols+q]
}

// runGemm runs one case on the reference with plain buffers and on the
// backend under test with every operand placed inside guard bands (views at
// offsets, long views, root buffers: the layout rotates with idx), then
// compares C and checks that guards and inputs are untouched.
func runGemm(x, ref *tb, c gemmCase, r *rand.Rand, idx int) {
	x.Helper()
	in := newGemmInputs(r, c)

	rg := nn.Gemm{TransA: c.transA, TransB: c.transB, M: c.m, N: c.n, K: c.k, Alpha: c.alpha, Beta: c.beta, ReLU: c.relu,
		A: ref.upload(in.a), B: ref.upload(in.b), C: ref.upload(in.c0)}
	if c.bias {
		rg.Bias = ref.upload(in.bias)
	}
	if c.mask {
		rg.Mask = ref.upload(in.mask)
	}
	ref.b.Gemm(rg)
	ref.sync()
	want := ref.f32(rg.C, c.m*c.n)

	lay := func(j int) layout { return layouts[(idx+j)%len(layouts)] }
	ga, gb, gc := x.guardF32(in.a, lay(0)), x.guardF32(in.b, lay(1)), x.guardF32(in.c0, lay(2))
	g := nn.Gemm{TransA: c.transA, TransB: c.transB, M: c.m, N: c.n, K: c.k, Alpha: c.alpha, Beta: c.beta, ReLU: c.relu,
		A: ga.buf, B: gb.buf, C: gc.buf}
	var gbias, gmask *guarded
	if c.bias {
		gbias = x.guardF32(in.bias, lay(3))
		g.Bias = gbias.buf
	}
	if c.mask {
		gmask = x.guardF32(in.mask, lay(4))
		g.Mask = gmask.buf
	}
	x.b.Gemm(g)
	x.sync()

	got := gc.values("C")
	closeTo(x.T, "C", got, want, c.n, tolerance{atol: 1e-6, rtol: sumTol(c.k), scale: gemmScale(c, in)})
	ga.unchanged("A")
	gb.unchanged("B")
	if gbias != nil {
		gbias.unchanged("Bias")
	}
	if gmask != nil {
		gmask.unchanged("Mask")
	}
	for _, b := range []*guarded{ga, gb, gc, gbias, gmask} {
		if b != nil {
			x.b.Free(b.base)
		}
	}
	for _, b := range []nn.Buffer{rg.A, rg.B, rg.C, rg.Bias, rg.Mask} {
		if b != nil {
			ref.b.Free(b)
		}
	}
}

// testGemmDegenerate covers empty products: M or N of 0 (nothing to do; the
// guards must hold) and K of 0 (C = β·C, then the epilogue).
func (s *suite) testGemmDegenerate(t *testing.T) {
	x := s.backend(t)
	ref := reference(t)
	r := newRand(2)
	cases := []gemmCase{
		{m: 0, n: 5, k: 3, gemmVariant: gemmVariant{alpha: 1, beta: 1, bias: true}},
		{m: 4, n: 0, k: 3, transA: true, gemmVariant: gemmVariant{alpha: 1}},
		{m: 0, n: 0, k: 0, gemmVariant: gemmVariant{alpha: 1}},
		{m: 4, n: 5, k: 0, gemmVariant: gemmVariant{alpha: 1, beta: 0}},
		{m: 4, n: 5, k: 0, transB: true, gemmVariant: gemmVariant{alpha: 1, beta: 0.5, bias: true, relu: true}},
		{m: 3, n: 7, k: 0, transA: true, gemmVariant: gemmVariant{alpha: 2, beta: -1, mask: true}},
	}
	for i, c := range cases {
		c.densA, c.densB = 1, 1
		t.Run(c.String(), func(t *testing.T) {
			runGemm(x.with(t), ref.with(t), c, r, i)
		})
	}
}

// testGemmKnownValues checks a product worked by hand, under every storage
// order and through each epilogue stage, independently of the reference.
func (s *suite) testGemmKnownValues(t *testing.T) {
	x := s.backend(t)
	a := [][]float32{{1, -2, 3}, {0, 5, -1}}                      // op(A) is 2×3
	b := [][]float32{{2, 0, -1, 1}, {1, 3, 0, -2}, {-1, 1, 2, 0}} // op(B) is 3×4
	ab := []float32{-3, -3, 5, 5, 6, 14, -2, -10}                 // op(A)·op(B), 2×4
	c0 := filled(8, 1)                                            // old C
	bias := []float32{1, 0, -20, 0.5}                             //
	mask := []float32{1, 1, 1, 1, 0, 1, 1, 1}                     //
	epi := []float32{-6, -7, -11, 9.5, 12, 27, -25, -20.5}        // 2·AB − C + bias
	relu := []float32{0, 0, 0, 9.5, 12, 27, 0, 0}                 // then ReLU
	masked := []float32{-6, -7, -11, 9.5, 0, 27, -25, -20.5}      // 2·AB − C + bias, masked
	both := []float32{0, 0, 0, 9.5, 0, 27, 0, 0}                  // all stages
	store := func(m [][]float32, trans bool) []float32 {          // row-major, transposed when trans
		rows, cols := len(m), len(m[0])
		out := make([]float32, rows*cols)
		for i := range rows {
			for j := range cols {
				if trans {
					out[j*rows+i] = m[i][j]
				} else {
					out[i*cols+j] = m[i][j]
				}
			}
		}
		return out
	}
	for _, tr := range transposes {
		A, B := x.upload(store(a, tr[0])), x.upload(store(b, tr[1]))
		for _, v := range []struct {
			name        string
			alpha, beta float32
			bias, relu  bool
			mask        bool
			want        []float32
		}{
			{"plain", 1, 0, false, false, false, ab},
			{"alpha-beta-bias", 2, -1, true, false, false, epi},
			{"relu", 2, -1, true, true, false, relu},
			{"mask", 2, -1, true, false, true, masked},
			{"relu+mask", 2, -1, true, true, true, both},
		} {
			C := x.upload(c0)
			g := nn.Gemm{TransA: tr[0], TransB: tr[1], M: 2, N: 4, K: 3, Alpha: v.alpha, Beta: v.beta, A: A, B: B, C: C, ReLU: v.relu}
			if v.bias {
				g.Bias = x.upload(bias)
			}
			if v.mask {
				g.Mask = x.upload(mask)
			}
			x.b.Gemm(g)
			x.sync()
			closeTo(t, fmt.Sprintf("transA=%v transB=%v %s", tr[0], tr[1], v.name), x.f32(C, 8), v.want, 4, tolerance{atol: 1e-6, rtol: 1e-6})
		}
	}
}
