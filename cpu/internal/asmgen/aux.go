package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The GEMM's helpers: compacting a sparse row, listing the nonzero rows of
// a column block, transposing an operand into row-major panels.

// compact generates the AVX-512 row compaction (AVX2 has no compress
// instruction; package cpu compacts in Go there).
func (x isa) compact() {
	if !x.Z {
		return
	}
	name := "compactRows" + x.Name
	TEXT(name, NOSPLIT, "func(s *float32, lds, n, rows int, vals *float32, offs *int32, cnt *int32, stride, step int)")
	Doc(append([]string{
		name + " writes the nonzeros of each row s[i*lds : i*lds+n] (NaN is nonzero,",
		"±0 are zeros) to vals[i*stride:] and their indexes times step to",
		"offs[i*stride:], in order, and their number to cnt[i]. Each row of vals",
		"and offs must have room for n+16 elements: whole vectors are stored.",
		"Its reference loop:",
		"",
	}, docLoop(
		"for i := 0; i < rows; i++ {",
		"	m := 0",
		"	for k, v := range s[i*lds : i*lds+n] {",
		"		if v != 0 || v != v {",
		"			vals[i*stride+m], offs[i*stride+m] = v, int32(k*step)",
		"			m++",
		"		}",
		"	}",
		"	cnt[i] = int32(m)",
		"}",
	)...)...)

	rows := param("rows")
	TESTQ(rows, rows)
	JZ(LabelRef("end"))
	s0 := param("s")
	lds := param("lds")
	SHLQ(U8(2), lds)
	n0 := param("n")
	v0 := param("vals")
	o0 := param("offs")
	cnt := param("cnt")
	stride := param("stride")
	SHLQ(U8(2), stride)
	step := param("step")

	Label("row")
	sp, n, vp, op := GP64(), GP64(), GP64(), GP64()
	MOVQ(s0, sp)
	MOVQ(n0, n)
	MOVQ(v0, vp)
	MOVQ(o0, op)
	m := GP64()
	XORQ(m, m)

	off := x.vec() // the offsets of the next 16 elements
	x.iota(off)
	st := x.vec()
	VPBROADCASTD(step.As32(), st)
	VPMULLD(st, off, off)
	VPSLLD(U8(4), st, st) // 16·step
	zero := x.vec()
	VXORPS(zero, zero, zero)

	group := func(k reg.OpmaskVirtual, v reg.VecVirtual, skip string) {
		VCMPPS(U8(4), zero, v, k) // NEQ_UQ: true for nonzeros and NaN
		// Most vectors of an image's background are all zero: skip them.
		KORTESTW(k, k)
		JZ(LabelRef(skip))
		cv, co := x.vec(), x.vec()
		VCOMPRESSPS_Z(v, k, cv)
		VPCOMPRESSD_Z(off, k, co)
		VMOVUPS(cv, Mem{Base: vp, Index: m, Scale: 4})
		VMOVDQU32(co, Mem{Base: op, Index: m, Scale: 4})
		t := GP64()
		KMOVW(k, t.As32())
		POPCNTL(t.As32(), t.As32())
		ADDQ(t, m)
	}

	Label("loop")
	CMPQ(n, U8(16))
	JL(LabelRef("tail"))
	v := x.vec()
	VMOVUPS(Mem{Base: sp}, v)
	group(K(), v, "next")
	Label("next")
	VPADDD(st, off, off)
	ADDQ(U8(64), sp)
	SUBQ(U8(16), n)
	JMP(LabelRef("loop"))

	Label("tail")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	km := K()
	bits := GP32()
	MOVL(U32(0xffff), bits)
	BZHIL(n.As32(), bits, bits)
	KMOVW(bits, km)
	tv := x.vec()
	VMOVUPS_Z(Mem{Base: sp}, km, tv) // masked lanes read as +0: not nonzeros
	group(K(), tv, "done")

	Label("done")
	MOVL(m.As32(), Mem{Base: cnt})
	ADDQ(lds, s0)
	ADDQ(stride, v0)
	ADDQ(stride, o0)
	ADDQ(U8(4), cnt)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("end")
	VZEROUPPER()
	RET()
}

// nonzeroRows generates the lister of the rows of a column block of D
// that are not all zero.
func (x isa) nonzeroRows() {
	name := "nonzeroRows" + x.Name
	TEXT(name, NOSPLIT, "func(d *float32, dd, n int, list *int32) int")
	Doc(append([]string{
		fmt.Sprintf("%s writes to list, in order, the k < n for which the %d floats", name, x.Lanes),
		"d[k*dd:k*dd+W] are not all zero (NaN is nonzero, ±0 are zeros) and returns",
		"how many there are; list must have room for n. Its reference loop:",
		"",
	}, docLoop(
		"m := 0",
		"for k := 0; k < n; k++ {",
		fmt.Sprintf("	for _, v := range d[k*dd : k*dd+%d] {", x.Lanes),
		"		if v != 0 || v != v {",
		"			list[m] = int32(k)",
		"			m++",
		"			break",
		"		}",
		"	}",
		"}",
		"return m",
	)...)...)

	dp := param("d")
	dd := param("dd")
	SHLQ(U8(2), dd)
	n := param("n")
	lp := param("list")
	k, m := GP64(), GP64()
	XORQ(k, k)
	XORQ(m, m)
	zero := x.vec()
	VXORPS(zero, zero, zero)
	TESTQ(n, n)
	JZ(LabelRef("done"))

	Label("loop")
	nz := GP8()
	if x.Z {
		km := K()
		VCMPPS(U8(4), Mem{Base: dp}, zero, km) // NEQ_UQ
		KORTESTW(km, km)
	} else {
		t := x.vec()
		VCMPPS(U8(4), Mem{Base: dp}, zero, t)
		bits := GP32()
		VMOVMSKPS(t, bits)
		TESTL(bits, bits)
	}
	SETNE(nz)
	// Store k unconditionally; count it only if the block is nonzero: no
	// branch on the data.
	MOVL(k.As32(), Mem{Base: lp, Index: m, Scale: 4})
	inc := GP64()
	MOVBQZX(nz, inc)
	ADDQ(inc, m)
	ADDQ(dd, dp)
	INCQ(k)
	CMPQ(k, n)
	JL(LabelRef("loop"))

	Label("done")
	Store(m, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// transpose generates the transposition of a strip of W rows into W-wide
// row-major panels: the packing of an operand whose columns are contiguous.
func (x isa) transpose() {
	name := "transpose" + x.Name
	W := x.Lanes
	TEXT(name, NOSPLIT, "func(src *float32, lds int, dst *float32, ldd, nb int)")
	Doc(append([]string{
		fmt.Sprintf("%s transposes the %d×(%d·nb) block of src (row stride lds) into", name, W, W),
		fmt.Sprintf("the (%d·nb)×%d block of dst (row stride ldd), %d×%d at a time. Its", W, W, W, W),
		"reference loop:",
		"",
	}, docLoop(
		fmt.Sprintf("for r := 0; r < %d; r++ {", W),
		fmt.Sprintf("	for c := 0; c < %d*nb; c++ {", W),
		"		dst[c*ldd+r] = src[r*lds+c]",
		"	}",
		"}",
	)...)...)

	sp := param("src")
	lds := param("lds")
	SHLQ(U8(2), lds)
	dp := param("dst")
	ldd := param("ldd")
	SHLQ(U8(2), ldd)
	nb := param("nb")
	rows := newRows(sp, lds, W)
	TESTQ(nb, nb)
	JZ(LabelRef("done"))

	Label("loop")
	r := make([]reg.VecVirtual, W)
	for i := range r {
		r[i] = x.vec()
		VMOVUPS(rows.at(i, 0), r[i])
	}
	// Within each 128-bit lane, a 4×4 transposition of each group of four
	// rows: afterwards r[4g+j], lane L, holds column 4L+j of rows 4g…4g+3.
	t := make([]reg.VecVirtual, W)
	for i := 0; i < W; i += 2 {
		t[i], t[i+1] = x.vec(), x.vec()
		VUNPCKLPS(r[i+1], r[i], t[i])   // r[i][0] r[i+1][0] r[i][1] r[i+1][1] per lane
		VUNPCKHPS(r[i+1], r[i], t[i+1]) // … [2] … [3]
	}
	for g := 0; g < W; g += 4 {
		a, b, c, d := t[g], t[g+1], t[g+2], t[g+3]
		r[g], r[g+1], r[g+2], r[g+3] = x.vec(), x.vec(), x.vec(), x.vec()
		VSHUFPS(U8(0x44), c, a, r[g])   // column 0 of the four rows
		VSHUFPS(U8(0xee), c, a, r[g+1]) // column 1
		VSHUFPS(U8(0x44), d, b, r[g+2]) // column 2
		VSHUFPS(U8(0xee), d, b, r[g+3]) // column 3
	}
	out := make([]reg.VecVirtual, W)
	if x.Z {
		// Gather lane L of r[j], r[4+j], r[8+j], r[12+j] into output row
		// 4L+j: two rounds of 128-bit lane shuffles.
		for j := 0; j < 4; j++ {
			for _, h := range []int{0, 8} {
				t[h+j], t[h+4+j] = x.vec(), x.vec()
				VSHUFF32X4(U8(0x88), r[h+4+j], r[h+j], t[h+j])   // lanes 0, 2 of each
				VSHUFF32X4(U8(0xdd), r[h+4+j], r[h+j], t[h+4+j]) // lanes 1, 3
			}
		}
		for j := 0; j < 4; j++ {
			for _, h := range []int{0, 4} {
				out[h+j], out[h+8+j] = x.vec(), x.vec()
				VSHUFF32X4(U8(0x88), t[h+8+j], t[h+j], out[h+j])
				VSHUFF32X4(U8(0xdd), t[h+8+j], t[h+j], out[h+8+j])
			}
		}
	} else {
		// Lane 0 of r[j] and r[4+j] makes output row j, lane 1 row 4+j.
		for j := 0; j < 4; j++ {
			out[j], out[4+j] = x.vec(), x.vec()
			VPERM2F128(U8(0x20), r[4+j], r[j], out[j])
			VPERM2F128(U8(0x31), r[4+j], r[j], out[4+j])
		}
	}
	for c := range out {
		VMOVUPS(out[c], Mem{Base: dp})
		ADDQ(ldd, dp)
	}
	rows.advance(U32(4 * W))
	DECQ(nb)
	JNZ(LabelRef("loop"))

	Label("done")
	VZEROUPPER()
	RET()
}
