package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
)

// windowMax generates max-pooling's forward pass over one window: the
// maxima of a vector of channels at a time and, when arg is not nil, their
// positions in the window, with package cpu's NaN rule (a NaN replaces a
// number, the first NaN stays), exactly as its reference loop.
func (x isa) windowMax() {
	name := "windowMax" + x.Name
	TEXT(name, NOSPLIT, "func(p *float32, offs *int, n int, best *float32, arg *int32, c int)")
	Doc(append([]string{
		fmt.Sprintf("%s sets best[ch] (and arg[ch] unless arg is nil) for ch < c, c a", name),
		fmt.Sprintf("multiple of %d, to the maximum over the window's n ≥ 1 pixels at", x.Lanes),
		"p[offs[i]:] of channel ch, and its index i, exactly as its reference loop:",
		"",
	}, docLoop(
		"for ch := 0; ch < c; ch++ {",
		"	b, a := p[offs[0]+ch], 0",
		"	for i := 1; i < n; i++ {",
		"		if v := p[offs[i]+ch]; !(v <= b) && b == b {",
		"			b, a = v, i",
		"		}",
		"	}",
		"	best[ch] = b",
		"	if arg != nil {",
		"		arg[ch] = int32(a)",
		"	}",
		"}",
	)...)...)
	p := param("p")
	offs := param("offs")
	n := param("n")
	bp := param("best")
	ap := param("arg")
	c := param("c")
	off0 := GP64()
	MOVQ(Mem{Base: offs}, off0)

	Label("vec")
	CMPQ(c, U8(0))
	JLE(LabelRef("done"))
	b, a := x.vec(), x.vec()
	VMOVUPS(Mem{Base: p, Index: off0, Scale: 4}, b)
	if x.Z {
		VPXORD(a, a, a)
	} else {
		VPXOR(a, a, a)
	}
	i := GP64()
	MOVQ(U32(1), i)
	Label("pixel")
	CMPQ(i, n)
	JGE(LabelRef("store"))
	off := GP64()
	MOVQ(Mem{Base: offs, Index: i, Scale: 8}, off)
	q := x.vec()
	VMOVUPS(Mem{Base: p, Index: off, Scale: 4}, q)
	idx := x.vec()
	if x.Z {
		VPBROADCASTD(i.As32(), idx)
		take, ord := K(), K()
		VCMPPS(U8(0x16), b, q, take) // NLE_UQ: !(q <= b)
		VCMPPS(U8(0x07), b, b, ord)  // ORD_Q: b is not NaN
		KANDW(ord, take, take)
		VMOVAPS(q, take, b)
		VMOVDQA32(idx, take, a)
	} else {
		t := x.vec()
		MOVQ(i, t.AsX())
		VPBROADCASTD(t.AsX(), idx)
		take, ord := x.vec(), x.vec()
		VCMPPS(U8(0x16), b, q, take)
		VCMPPS(U8(0x07), b, b, ord)
		VANDPS(ord, take, take)
		VBLENDVPS(take, q, b, b)
		VBLENDVPS(take, idx, a, a)
	}
	INCQ(i)
	JMP(LabelRef("pixel"))

	Label("store")
	VMOVUPS(b, Mem{Base: bp})
	TESTQ(ap, ap)
	JZ(LabelRef("next"))
	if x.Z {
		VMOVDQU32(a, Mem{Base: ap})
	} else {
		VMOVDQU(a, Mem{Base: ap})
	}
	Label("next")
	ADDQ(U32(x.VecBytes()), p)
	ADDQ(U32(x.VecBytes()), bp)
	TESTQ(ap, ap)
	JZ(LabelRef("skip"))
	ADDQ(U32(x.VecBytes()), ap)
	Label("skip")
	SUBQ(U32(x.Lanes), c)
	JMP(LabelRef("vec"))

	Label("done")
	VZEROUPPER()
	RET()
}

// windowScatter generates max-pooling's backward pass over one window
// whose pixels no other window covers (stride ≥ size): every pixel of the
// window gets its channel's gradient where it was the maximum and +0
// elsewhere, in one store per pixel instead of a cleared image and a
// scattered sum.
func (x isa) windowScatter() {
	name := "windowScatter" + x.Name
	TEXT(name, NOSPLIT, "func(p *float32, offs *int, n int, dy *float32, arg *int32, c int)")
	Doc(append([]string{
		fmt.Sprintf("%s sets p[offs[i]+ch] for i < n and ch < c, c a multiple of %d,", name, x.Lanes),
		"to 0 + dy[ch] where arg[ch] is i and to +0 elsewhere (what adding dy into",
		"a cleared image gives, -0 included), exactly as its reference loop:",
		"",
	}, docLoop(
		"for ch := 0; ch < c; ch++ {",
		"	d := zero + dy[ch] // zero a float32 variable holding +0",
		"	for i := 0; i < n; i++ {",
		"		v := zero",
		"		if int(arg[ch]) == i {",
		"			v = d",
		"		}",
		"		p[offs[i]+ch] = v",
		"	}",
		"}",
	)...)...)
	p := param("p")
	offs := param("offs")
	n := param("n")
	dp := param("dy")
	ap := param("arg")
	c := param("c")
	zero := x.vec()
	if x.Z {
		VPXORD(zero, zero, zero)
	} else {
		VPXOR(zero, zero, zero)
	}

	Label("vec")
	CMPQ(c, U8(0))
	JLE(LabelRef("done"))
	d, a := x.vec(), x.vec()
	VADDPS(Mem{Base: dp}, zero, d) // +0 + dy: -0 becomes +0
	VMOVUPS(Mem{Base: ap}, a)
	i := GP64()
	XORQ(i, i)
	Label("pixel")
	CMPQ(i, n)
	JGE(LabelRef("next"))
	off := GP64()
	MOVQ(Mem{Base: offs, Index: i, Scale: 8}, off)
	idx := x.vec()
	if x.Z {
		VPBROADCASTD(i.As32(), idx)
		k := K()
		VPCMPEQD(a, idx, k)
		v := x.vec()
		VMOVAPS_Z(d, k, v)
		VMOVUPS(v, Mem{Base: p, Index: off, Scale: 4})
	} else {
		t := x.vec()
		MOVQ(i, t.AsX())
		VPBROADCASTD(t.AsX(), idx)
		m := x.vec()
		VPCMPEQD(a, idx, m)
		VANDPS(d, m, m) // d where equal, +0 elsewhere
		VMOVUPS(m, Mem{Base: p, Index: off, Scale: 4})
	}
	INCQ(i)
	JMP(LabelRef("pixel"))

	Label("next")
	ADDQ(U32(x.VecBytes()), p)
	ADDQ(U32(x.VecBytes()), dp)
	ADDQ(U32(x.VecBytes()), ap)
	SUBQ(U32(x.Lanes), c)
	JMP(LabelRef("vec"))

	Label("done")
	VZEROUPPER()
	RET()
}
