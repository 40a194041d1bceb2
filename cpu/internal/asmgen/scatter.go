package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

const scatterSig = "func(s *float32, lds, k, rows int, gr *float32, ldg int, t *float32, dt, tail int)"

// scatterMaskRows generates the AVX-512 kernel of the fused MLP step's
// first-layer weight gradient in the layout its forward pass reads,
// dW1ᵀ = Xᵀ·dA1, from the rows of the batch X as they are (no
// transposition): for each nonzero x of row i at k (found 64 at a time as
// a bit mask, as sparseMaskRows does), row k of T gains x times row i of
// G, which stays in registers for the whole row of S.
func (x isa) scatterMaskRows(nv int) {
	if !x.Z {
		return
	}
	name := fmt.Sprintf("scatterMaskRows%s_%d", x.Name, nv)
	TEXT(name, NOSPLIT, scatterSig)
	w := nv * x.Lanes
	doc := []string{
		fmt.Sprintf("%s adds to %d columns (%d vectors) of T, for every nonzero", name, w, nv),
		"v = s[i*lds+kk] of the rows of S (NaN is nonzero, ±0 are zeros), v times",
		fmt.Sprintf("row i of GR to row kk of T: T += Sᵀ·GR on the first %d+tail columns,", w-x.Lanes),
		"row i of S after row i-1. Its reference loop:",
		"",
	}
	doc = append(doc, docLoop(
		"for i := 0; i < rows; i++ {",
		"	for kk := 0; kk < k; kk++ {",
		"		if v := s[i*lds+kk]; v != 0 || v != v {",
		fmt.Sprintf("			for j := 0; j < %d+tail; j++ {", w-x.Lanes),
		"				t[kk*dt+j] += v * gr[i*ldg+j]",
		"			}",
		"		}",
		"	}",
		"}",
	)...)
	doc = append(doc, "",
		"Each nonzero costs a load, an FMA and a store per vector of T, with no",
		"chain of additions from one nonzero to the next: the rows of T it",
		"touches are distinct within a row of S.")
	Doc(doc...)

	rows := param("rows")
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	sp := param("s")
	gp := param("gr")
	tp := param("t")
	dt := param("dt")
	SHLQ(U8(2), dt)
	ldg := param("ldg")
	SHLQ(U8(2), ldg)
	kArg, ldsArg := argAddr("k"), argAddr("lds")
	zero := x.vec()
	VXORPS(zero, zero, zero)
	km := K()
	{
		tail := GP64()
		Load(Param("tail"), tail)
		bits := GP32()
		MOVL(U32(0xffff), bits)
		BZHIL(tail.As32(), bits, bits)
		KMOVW(bits, km)
	}
	gv := make([]reg.VecVirtual, nv)

	Label("row")
	for v := 0; v < nv; v++ {
		z := x.vec()
		if v == nv-1 {
			VMOVUPS_Z(Mem{Base: gp, Disp: v * x.VecBytes()}, km, z)
		} else {
			VMOVUPS(Mem{Base: gp, Disp: v * x.VecBytes()}, z)
		}
		gv[v] = z
	}
	k0 := GP64()
	XORQ(k0, k0)
	CMPQ(kArg, U8(0))
	JLE(LabelRef("nextrow"))

	Label("chunk")
	cn := GP64()
	MOVQ(kArg, cn)
	SUBQ(k0, cn)
	m := GP64()
	XORQ(m, m)
	CMPQ(cn, U8(64))
	JL(LabelRef("partial"))
	for q := 3; q >= 0; q-- {
		kq := K()
		VCMPPS(U8(4), Mem{Base: sp, Index: k0, Scale: 4, Disp: 64 * q}, zero, kq) // NEQ_UQ: nonzeros and NaN
		bits := GP64()
		KMOVW(kq, bits.As32())
		SHLQ(U8(16), m)
		ORQ(bits, m)
	}
	JMP(LabelRef("bits"))

	// Fewer than 64 left: the lanes beyond k are masked off the loads.
	Label("partial")
	for q := 3; q >= 0; q-- {
		t := GP64()
		LEAQ(Mem{Base: cn, Disp: -16 * q}, t)
		zr := GP64()
		XORQ(zr, zr)
		TESTQ(t, t)
		CMOVQLT(zr, t)
		bits := GP64()
		MOVL(U32(0xffff), bits.As32())
		BZHIL(t.As32(), bits.As32(), bits.As32())
		kq := K()
		KMOVW(bits.As32(), kq)
		z := x.vec()
		VMOVUPS_Z(Mem{Base: sp, Index: k0, Scale: 4, Disp: 64 * q}, kq, z)
		VCMPPS(U8(4), zero, z, kq) // NEQ_UQ: nonzeros and NaN
		KMOVW(kq, bits.As32())
		SHLQ(U8(16), m)
		ORQ(bits, m)
	}

	Label("bits")
	TESTQ(m, m)
	JZ(LabelRef("next"))
	t := GP64()
	TZCNTQ(m, t)
	BLSRQ(m, m)
	ADDQ(k0, t) // the element's k
	b := x.vec()
	VBROADCASTSS(Mem{Base: sp, Index: t, Scale: 4}, b)
	IMULQ(dt, t)
	ADDQ(tp, t) // &T[k, 0]
	for v := 0; v < nv; v++ {
		z := x.vec()
		at := Mem{Base: t, Disp: v * x.VecBytes()}
		if v == nv-1 {
			VMOVUPS_Z(at, km, z)
			VFMADD231PS(gv[v], b, z)
			VMOVUPS(z, km, at)
		} else {
			VMOVUPS(at, z)
			VFMADD231PS(gv[v], b, z)
			VMOVUPS(z, at)
		}
	}
	JMP(LabelRef("bits"))

	Label("next")
	ADDQ(U8(64), k0)
	CMPQ(k0, kArg)
	JL(LabelRef("chunk"))

	Label("nextrow")
	ADDQ(ldg, gp)
	lds := GP64()
	MOVQ(ldsArg, lds)
	LEAQ(Mem{Base: sp, Index: lds, Scale: 4}, sp)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}
