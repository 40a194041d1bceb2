package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The elementwise kernels of a training step besides the GEMM, and the FMA
// throughput probe. Each handles whole vectors only: the callers finish the
// last n mod W elements in Go.

// unrolled emits a loop over n elements (n a multiple of W), four vectors
// per iteration while four remain, then one at a time; body emits the work
// for vector u at element offset (u·W), and advance moves the pointers by
// the given number of elements.
func (x isa) unrolled(n reg.Register, body func(u int), advance func(elems int)) {
	W := x.Lanes
	Label("loop4")
	CMPQ(n, U32(4*W))
	JL(LabelRef("loop1"))
	for u := 0; u < 4; u++ {
		body(u)
	}
	advance(4 * W)
	SUBQ(U32(4*W), n)
	JMP(LabelRef("loop4"))
	Label("loop1")
	CMPQ(n, U32(W))
	JL(LabelRef("done"))
	body(0)
	advance(W)
	SUBQ(U32(W), n)
	JMP(LabelRef("loop1"))
	Label("done")
	VZEROUPPER()
	RET()
}

// bytesToF32 generates the conversion of a gathered image batch.
func (x isa) bytesToF32() {
	name := "bytesToF32" + x.Name
	TEXT(name, NOSPLIT, "func(dst *float32, src *uint8, n int, scale, shift float32)")
	Doc(append([]string{
		fmt.Sprintf("%s converts bytes to floats for n a multiple of %d, rounding after", name, x.Lanes),
		"the product and after the sum, exactly as its reference loop:",
		"",
	}, docLoop(
		"for i, v := range src[:n] {",
		"	dst[i] = float32(float32(v)*scale) + shift",
		"}",
	)...)...)
	dp := param("dst")
	sp := param("src")
	n := param("n")
	sc, sh := x.vec(), x.vec()
	broadcastParam("scale", sc)
	broadcastParam("shift", sh)
	x.unrolled(n, func(u int) {
		v := x.vec()
		VPMOVZXBD(Mem{Base: sp, Disp: u * x.Lanes}, v)
		VCVTDQ2PS(v, v)
		VMULPS(sc, v, v)
		VADDPS(sh, v, v)
		VMOVUPS(v, Mem{Base: dp, Disp: u * x.VecBytes()})
	}, func(elems int) {
		ADDQ(U32(elems), sp)
		ADDQ(U32(4*elems), dp)
	})
}

// sgd generates plain SGD's update.
func (x isa) sgd() {
	name := "sgd" + x.Name
	TEXT(name, NOSPLIT, "func(p, grad *float32, n int, lr float32)")
	Doc(append([]string{
		fmt.Sprintf("%s updates p[:n] for n a multiple of %d, rounding the product and", name, x.Lanes),
		"the difference separately, exactly as its reference loop:",
		"",
	}, docLoop(
		"for i := range p[:n] {",
		"	p[i] -= lr * grad[i]",
		"}",
	)...)...)
	pp := param("p")
	gp := param("grad")
	n := param("n")
	lr := x.vec()
	broadcastParam("lr", lr)
	x.unrolled(n, func(u int) {
		t, p := x.vec(), x.vec()
		VMULPS(Mem{Base: gp, Disp: u * x.VecBytes()}, lr, t)
		VMOVUPS(Mem{Base: pp, Disp: u * x.VecBytes()}, p)
		VSUBPS(t, p, p) // p - t
		VMOVUPS(p, Mem{Base: pp, Disp: u * x.VecBytes()})
	}, func(elems int) {
		ADDQ(U32(4*elems), pp)
		ADDQ(U32(4*elems), gp)
	})
}

// sgdMomentum generates SGD's update with momentum (no weight decay, not
// Nesterov's): the default recipe's optimiser.
func (x isa) sgdMomentum() {
	name := "sgdMomentum" + x.Name
	TEXT(name, NOSPLIT, "func(p, grad, v *float32, n int, lr, mom float32)")
	Doc(append([]string{
		fmt.Sprintf("%s updates v[:n] and p[:n] for n a multiple of %d, rounding every", name, x.Lanes),
		"product, sum and difference separately (no FMA), exactly as its reference loop:",
		"",
	}, docLoop(
		"for i := range p[:n] {",
		"	vi := mom*v[i] + grad[i]",
		"	v[i] = vi",
		"	p[i] -= lr * vi",
		"}",
	)...)...)
	pp := param("p")
	gp := param("grad")
	vp := param("v")
	n := param("n")
	lr, mom := x.vec(), x.vec()
	broadcastParam("lr", lr)
	broadcastParam("mom", mom)
	x.unrolled(n, func(u int) {
		v, p := x.vec(), x.vec()
		at := func(base reg.Register) Mem { return Mem{Base: base, Disp: u * x.VecBytes()} }
		VMULPS(at(vp), mom, v)
		VADDPS(at(gp), v, v) // mom·v + grad
		VMOVUPS(v, at(vp))
		VMULPS(lr, v, v)
		VMOVUPS(at(pp), p)
		VSUBPS(v, p, p) // p - lr·v
		VMOVUPS(p, at(pp))
	}, func(elems int) {
		ADDQ(U32(4*elems), pp)
		ADDQ(U32(4*elems), gp)
		ADDQ(U32(4*elems), vp)
	})
}

// sumRows generates the column sums of a row-major matrix.
func (x isa) sumRows() {
	name := "sumRows" + x.Name
	TEXT(name, NOSPLIT, "func(dst, src *float32, rows, cols, ld int)")
	Doc(append([]string{
		fmt.Sprintf("%s sums the rows of src (rows×cols, row stride ld) into dst for cols a", name),
		fmt.Sprintf("multiple of %d, adding the rows in order to +0 as its reference loop does:", x.Lanes),
		"",
	}, docLoop(
		"for j := 0; j < cols; j++ {",
		"	var t float32",
		"	for r := 0; r < rows; r++ {",
		"		t += src[r*ld+j]",
		"	}",
		"	dst[j] = t",
		"}",
	)...)...)
	dp := param("dst")
	sp := param("src")
	rows := param("rows")
	cols := param("cols")
	ld := param("ld")
	SHLQ(U8(2), ld)
	vb := x.VecBytes()
	block := func(nv int, lbl string) {
		acc := x.zeroAcc(1, nv)[0]
		p, r := GP64(), GP64()
		MOVQ(sp, p)
		MOVQ(rows, r)
		TESTQ(r, r)
		JZ(LabelRef(lbl + "_store"))
		Label(lbl + "_rows")
		for v, a := range acc {
			VADDPS(Mem{Base: p, Disp: v * vb}, a, a)
		}
		ADDQ(ld, p)
		DECQ(r)
		JNZ(LabelRef(lbl + "_rows"))
		Label(lbl + "_store")
		for v, a := range acc {
			VMOVUPS(a, Mem{Base: dp, Disp: v * vb})
		}
		ADDQ(U32(nv*vb), sp)
		ADDQ(U32(nv*vb), dp)
		SUBQ(U32(nv*x.Lanes), cols)
	}
	Label("loop4")
	CMPQ(cols, U32(4*x.Lanes))
	JL(LabelRef("loop1"))
	block(4, "b4")
	JMP(LabelRef("loop4"))
	Label("loop1")
	CMPQ(cols, U32(x.Lanes))
	JL(LabelRef("done"))
	block(1, "b1")
	JMP(LabelRef("loop1"))
	Label("done")
	VZEROUPPER()
	RET()
}

// fmaPeak generates the FMA throughput probe: independent accumulators,
// enough to cover the FMA latency on two pipes.
func (x isa) fmaPeak() {
	name := "fmaPeak" + x.Name
	TEXT(name, NOSPLIT, "func(n int)")
	acc := 12
	if !x.Z {
		acc = 10
	}
	Doc(
		fmt.Sprintf("%s runs n iterations of %d independent vector FMAs (%d flops each)", name, acc, 2*x.Lanes),
		"on registers only: the benchmark of the machine's FMA peak.",
	)
	n := param("n")
	a := x.zeroAcc(1, acc)[0]
	m1, m2 := x.vec(), x.vec()
	VXORPS(m1, m1, m1)
	VXORPS(m2, m2, m2)
	TESTQ(n, n)
	JZ(LabelRef("done"))
	Label("loop")
	for _, r := range a {
		VFMADD231PS(m1, m2, r)
	}
	DECQ(n)
	JNZ(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// prefetch generates the cache-line prefetcher the batch gather uses.
func prefetch() {
	TEXT("prefetchLines", NOSPLIT, "func(p *uint8, n int)")
	Doc(
		"prefetchLines asks for the cache lines of p[:n] to be brought in (PREFETCHT0)",
		"without waiting for them: the images of the next batch while this one trains.",
	)
	p := param("p")
	n := param("n")
	end := GP64()
	LEAQ(Mem{Base: p, Index: n, Scale: 1}, end)
	ANDQ(I32(-64), p) // from the line that holds p[0]
	CMPQ(p, end)
	JAE(LabelRef("done"))
	Label("loop")
	PREFETCHT0(Mem{Base: p})
	ADDQ(U8(64), p)
	CMPQ(p, end)
	JB(LabelRef("loop"))
	Label("done")
	RET()
}

// adam generates Adam's update (torch.optim.Adam, amsgrad off).
func (x isa) adam() {
	name := "adam" + x.Name
	TEXT(name, NOSPLIT, "func(p, grad, m, v *float32, n int, wd, b1, c1, b2, c2, bc2sqrt, eps, step float32)")
	Doc(append([]string{
		fmt.Sprintf("%s updates m[:n], v[:n] and p[:n] for n a multiple of %d, with", name, x.Lanes),
		"c1 = 1-β1 and c2 = 1-β2 rounded to float32, rounding every product, sum,",
		"quotient and square root separately (no FMA; the float32 square root is",
		"the float64 one rounded), exactly as its reference loop:",
		"",
	}, docLoop(
		"for i := range p[:n] {",
		"	gi := grad[i] + wd*p[i]",
		"	mi := b1*m[i] + c1*gi",
		"	vi := b2*v[i] + c2*gi*gi",
		"	m[i], v[i] = mi, vi",
		"	denom := float32(math.Sqrt(float64(vi)))/bc2sqrt + eps",
		"	p[i] -= step * (mi / denom)",
		"}",
	)...)...)
	pp := param("p")
	gp := param("grad")
	mp := param("m")
	vp := param("v")
	n := param("n")
	wd, b1, c1, b2, c2, bc, eps, step := x.vec(), x.vec(), x.vec(), x.vec(), x.vec(), x.vec(), x.vec(), x.vec()
	broadcastParam("wd", wd)
	broadcastParam("b1", b1)
	broadcastParam("c1", c1)
	broadcastParam("b2", b2)
	broadcastParam("c2", c2)
	broadcastParam("bc2sqrt", bc)
	broadcastParam("eps", eps)
	broadcastParam("step", step)
	x.unrolled(n, func(u int) {
		at := func(base reg.Register) Mem { return Mem{Base: base, Disp: u * x.VecBytes()} }
		p, g, m, v, t := x.vec(), x.vec(), x.vec(), x.vec(), x.vec()
		VMOVUPS(at(pp), p)
		VMULPS(p, wd, g)
		VADDPS(at(gp), g, g) // grad + wd·p
		VMULPS(at(mp), b1, m)
		VMULPS(g, c1, t)
		VADDPS(t, m, m) // b1·m + c1·g
		VMOVUPS(m, at(mp))
		VMULPS(at(vp), b2, v)
		VMULPS(g, c2, t)
		VMULPS(g, t, t)
		VADDPS(t, v, v) // b2·v + (c2·g)·g
		VMOVUPS(v, at(vp))
		VSQRTPS(v, t)
		VDIVPS(bc, t, t)
		VADDPS(eps, t, t) // sqrt(v)/bc2sqrt + eps
		VDIVPS(t, m, t)   // m / denom
		VMULPS(step, t, t)
		VSUBPS(t, p, p)
		VMOVUPS(p, at(pp))
	}, func(elems int) {
		ADDQ(U32(4*elems), pp)
		ADDQ(U32(4*elems), gp)
		ADDQ(U32(4*elems), mp)
		ADDQ(U32(4*elems), vp)
	})
}
