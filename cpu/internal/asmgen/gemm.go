package main

import (
	"fmt"
	"strings"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The GEMM micro-kernels. Each computes a tile of C = α·S·D with the fused
// epilogue of package cpu: + C (accumulating K blocks or β·C), + bias, ReLU,
// mask. The flags argument selects the epilogue's stages; it must match the
// constants flagAdd… in cpu/kernels.go.
const (
	flagAdd  = 1
	flagReLU = 2
	flagBias = 4
	flagMask = 8
)

// epilogueDoc is the part of every kernel's reference loop that stores one
// element of the tile, v = α·t, into c[i*ldc+j].
const epilogueDoc = `		v := alpha * t
		if flags&flagAdd != 0 {
			v += c[i*ldc+j]
		}
		if flags&flagBias != 0 {
			v += bias[j]
		}
		if flags&flagReLU != 0 {
			v = relu(v)
		}
		if flags&flagMask != 0 {
			v = masked(v, mask[i*ldc+j])
		}
		c[i*ldc+j] = v`

// docLoop formats a reference loop as doc comment lines.
func docLoop(lines ...string) []string {
	var out []string
	for _, l := range lines {
		for _, s := range strings.Split(l, "\n") {
			out = append(out, "\t"+s)
		}
	}
	return out
}

// rows addresses the rows of a matrix from a base register and a row stride
// in bytes: row i is base + i·stride, formed with the scaled-index modes
// from base (rows 0–7) or base8 = base + 8·stride (rows 8–15) and the
// multiples 1, 3, 5 and 7 of the stride.
type rows struct {
	base, base8       reg.Register
	st, st3, st5, st7 reg.Register
	n                 int
}

// newRows sets up the registers for n rows (at most 16) from base (which
// it may advance) and the stride in bytes.
func newRows(base, stride reg.Register, n int) *rows {
	r := &rows{base: base, st: stride, n: n}
	if n > 3 {
		r.st3 = GP64()
		LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, r.st3)
	}
	if n > 5 {
		r.st5 = GP64()
		LEAQ(Mem{Base: stride, Index: stride, Scale: 4}, r.st5)
	}
	if n > 7 {
		r.st7 = GP64()
		MOVQ(stride, r.st7)
		SHLQ(U8(3), r.st7)
		SUBQ(stride, r.st7)
	}
	if n > 8 {
		r.base8 = GP64()
		LEAQ(Mem{Base: base, Index: stride, Scale: 8}, r.base8)
	}
	return r
}

// at returns the address of row i, plus disp bytes.
func (r *rows) at(i, disp int) Mem {
	b := r.base
	if i >= 8 {
		b, i = r.base8, i-8
	}
	m := Mem{Base: b, Disp: disp}
	switch i {
	case 0:
	case 1:
		m.Index, m.Scale = r.st, 1
	case 2:
		m.Index, m.Scale = r.st, 2
	case 3:
		m.Index, m.Scale = r.st3, 1
	case 4:
		m.Index, m.Scale = r.st, 4
	case 5:
		m.Index, m.Scale = r.st5, 1
	case 6:
		m.Index, m.Scale = r.st3, 2
	case 7:
		m.Index, m.Scale = r.st7, 1
	default:
		panic("row beyond 15")
	}
	return m
}

// advance adds delta to the base registers.
func (r *rows) advance(delta Op) {
	ADDQ(delta, r.base)
	if r.base8 != nil {
		ADDQ(delta, r.base8)
	}
}

// zeroAcc allocates and zeroes mr×nv accumulators.
func (x isa) zeroAcc(mr, nv int) [][]reg.VecVirtual {
	acc := make([][]reg.VecVirtual, mr)
	for i := range acc {
		acc[i] = make([]reg.VecVirtual, nv)
		for v := range acc[i] {
			acc[i][v] = x.vec()
			VXORPS(acc[i][v], acc[i][v], acc[i][v])
		}
	}
	return acc
}

const tileSig = "func(s *float32, rs, ks int, d *float32, dd, kn int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32)"

// tile generates the dense tile kernel of mr rows and nv vectors.
func (x isa) tile(mr, nv int) {
	name := fmt.Sprintf("tile%s_%dx%d", x.Name, mr, nv)
	TEXT(name, NOSPLIT, tileSig)
	w := nv * x.Lanes
	doc := []string{
		fmt.Sprintf("%s computes a tile of %d rows and %d columns (%d vectors) of", name, mr, w, nv),
		"C = α·S·D, S[i,k] = s[i*rs+k*ks] and D[k,j] = d[k*dd+j] (pointers seen as",
		"slices, strides in elements), then applies the epilogue that flags selects",
		fmt.Sprintf("to its first %d+tail columns (tail in 1…%d). Its reference loop:", w-x.Lanes, x.Lanes),
		"",
	}
	doc = append(doc, docLoop(
		fmt.Sprintf("for i := 0; i < %d; i++ {", mr),
		fmt.Sprintf("	for j := 0; j < %d+tail; j++ {", w-x.Lanes),
		"		var t float32",
		"		for k := 0; k < kn; k++ {",
		"			t += s[i*rs+k*ks] * d[k*dd+j]",
		"		}",
		epilogueDoc,
		"	}",
		"}",
	)...)
	doc = append(doc, "", fmt.Sprintf("Each row of d is read for all %d columns: the caller pads D.", w))
	Doc(doc...)

	acc := x.zeroAcc(mr, nv)
	sp := param("s")
	rs := param("rs")
	SHLQ(U8(2), rs)
	ks := param("ks")
	SHLQ(U8(2), ks)
	dp := param("d")
	dd := param("dd")
	SHLQ(U8(2), dd)
	kn := param("kn")
	r := newRows(sp, rs, mr)

	TESTQ(kn, kn)
	JZ(LabelRef("store"))
	Label("loop")
	dv := make([]reg.VecVirtual, nv)
	for v := range dv {
		dv[v] = x.vec()
		VMOVUPS(Mem{Base: dp, Disp: v * x.VecBytes()}, dv[v])
	}
	for i := 0; i < mr; i++ {
		if x.Z && nv == 1 {
			VFMADD231PS_BCST(r.at(i, 0), dv[0], acc[i][0])
			continue
		}
		b := x.vec()
		VBROADCASTSS(r.at(i, 0), b)
		for v := 0; v < nv; v++ {
			VFMADD231PS(b, dv[v], acc[i][v])
		}
	}
	r.advance(ks)
	ADDQ(dd, dp)
	DECQ(kn)
	JNZ(LabelRef("loop"))

	Label("store")
	x.epilogue(acc)
}

const listSig = "func(s *float32, ks int, d *float32, dd int, list *int32, kn int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32)"

// listTile generates the listed tile kernel of mr rows and one vector: the
// dense tile restricted to the rows of D that list names, for an S whose
// columns are contiguous (S[i,k] = s[k*ks+i]).
func (x isa) listTile(mr int) {
	name := fmt.Sprintf("listTile%s_%d", x.Name, mr)
	TEXT(name, NOSPLIT, listSig)
	Doc(append([]string{
		fmt.Sprintf("%s computes a tile of %d rows and one vector (%d columns) of", name, mr, x.Lanes),
		"C = α·S·D over the rows of D that list names, S[i,k] = s[k*ks+i] and",
		"D[k,j] = d[k*dd+j] (pointers seen as slices, strides in elements), then",
		"applies the epilogue that flags selects to its first tail columns. The",
		"caller lists the k where D[k, 0:W] is not all zero, so that the others,",
		"which add nothing, are skipped. Its reference loop:",
		"",
	}, docLoop(
		fmt.Sprintf("for i := 0; i < %d; i++ {", mr),
		"	for j := 0; j < tail; j++ {",
		"		var t float32",
		"		for _, k := range list[:kn] {",
		"			t += s[int(k)*ks+i] * d[int(k)*dd+j]",
		"		}",
		epilogueDoc,
		"	}",
		"}",
	)...)...)

	acc := x.zeroAcc(mr, 1)
	sp := param("s")
	ks := param("ks")
	SHLQ(U8(2), ks)
	dp := param("d")
	dd := param("dd")
	SHLQ(U8(2), dd)
	lp := param("list")
	kn := param("kn")

	TESTQ(kn, kn)
	JZ(LabelRef("store"))
	Label("loop")
	k := GP64()
	MOVLQSX(Mem{Base: lp}, k)
	so := GP64()
	MOVQ(k, so)
	IMULQ(ks, so)
	IMULQ(dd, k)
	dv := x.vec()
	VMOVUPS(Mem{Base: dp, Index: k, Scale: 1}, dv)
	for i := 0; i < mr; i++ {
		m := Mem{Base: sp, Index: so, Scale: 1, Disp: 4 * i}
		if x.Z {
			VFMADD231PS_BCST(m, dv, acc[i][0])
			continue
		}
		b := x.vec()
		VBROADCASTSS(m, b)
		VFMADD231PS(b, dv, acc[i][0])
	}
	ADDQ(U8(4), lp)
	DECQ(kn)
	JNZ(LabelRef("loop"))

	Label("store")
	x.epilogue(acc)
}

const sparseSig = "func(vals *float32, offs *int32, cnt *int32, stride, rows int, d *float32, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32)"

// sparseRows generates the sparse-row kernel of nv vectors: rows of
// C = α·S·D, each from the nonzeros of its row of S, given as values and
// byte offsets of the matching rows of D (compactRows writes them).
func (x isa) sparseRows(nv int) {
	name := fmt.Sprintf("sparseRows%s_%d", x.Name, nv)
	TEXT(name, NOSPLIT, sparseSig)
	w := nv * x.Lanes
	doc := []string{
		fmt.Sprintf("%s computes %d columns (%d vectors) of rows of C = α·S·D from", name, w, nv),
		"their nonzeros: row i of S has cnt[i] of them, S[i,k] = vals[i*stride+q]",
		"where offs[i*stride+q] = k·dd·4 is the byte offset of row k of D. It then",
		fmt.Sprintf("applies the epilogue that flags selects to the first %d+tail columns.", w-x.Lanes),
		"Its reference loop, with D[k,j] the float at byte offset offs[…]+4·j of d:",
		"",
	}
	doc = append(doc, docLoop(
		"for i := 0; i < rows; i++ {",
		fmt.Sprintf("	for j := 0; j < %d+tail; j++ {", w-x.Lanes),
		"		var t float32",
		"		for q := 0; q < int(cnt[i]); q++ {",
		"			t += vals[i*stride+q] * d[int(offs[i*stride+q])/4+j]",
		"		}",
		epilogueDoc,
		"	}",
		"}",
	)...)
	doc = append(doc, "",
		"Two sets of accumulators take alternate nonzeros, so that consecutive",
		"FMAs into one register are two nonzeros apart (FMA latency).")
	Doc(doc...)

	rows := param("rows")
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	vals := param("vals")
	offs := param("offs")
	cnt := param("cnt")
	stride := param("stride")
	SHLQ(U8(2), stride)
	dp := param("d")
	e := x.newEpi(true)

	Label("row")
	a := x.zeroAcc(2, nv)
	vp, op, n := GP64(), GP64(), GP64()
	MOVQ(vals, vp)
	MOVQ(offs, op)
	MOVLQSX(Mem{Base: cnt}, n)
	CMPQ(n, U8(2))
	JL(LabelRef("one"))
	Label("pair")
	for h := 0; h < 2; h++ {
		o := GP64()
		MOVLQSX(Mem{Base: op, Disp: 4 * h}, o)
		b := x.vec()
		VBROADCASTSS(Mem{Base: vp, Disp: 4 * h}, b)
		for v := 0; v < nv; v++ {
			VFMADD231PS(Mem{Base: dp, Index: o, Scale: 1, Disp: v * x.VecBytes()}, b, a[h][v])
		}
	}
	ADDQ(U8(8), vp)
	ADDQ(U8(8), op)
	SUBQ(U8(2), n)
	CMPQ(n, U8(2))
	JGE(LabelRef("pair"))

	Label("one")
	TESTQ(n, n)
	JZ(LabelRef("sum"))
	o := GP64()
	MOVLQSX(Mem{Base: op}, o)
	b := x.vec()
	VBROADCASTSS(Mem{Base: vp}, b)
	for v := 0; v < nv; v++ {
		VFMADD231PS(Mem{Base: dp, Index: o, Scale: 1, Disp: v * x.VecBytes()}, b, a[0][v])
	}

	Label("sum")
	for v := 0; v < nv; v++ {
		VADDPS(a[1][v], a[0][v], a[0][v])
	}
	e.store(a[:1])
	ADDQ(e.ldc, e.cp)
	ADDQ(e.ldc, e.mp) // a nil mask pointer is advanced but never read
	ADDQ(stride, vals)
	ADDQ(stride, offs)
	ADDQ(U8(4), cnt)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}

// epilogue stores the accumulators acc[i][v] (rows i of C, vectors v)
// into c: v = α·acc, then + c, + bias, ReLU and mask as flags say; the last
// vector of each row holds tail valid lanes and only those are read from
// c, bias and mask or written to c. It ends the function.
func (x isa) epilogue(acc [][]reg.VecVirtual) {
	e := x.newEpi(len(acc) > 1)
	e.store(acc)
	VZEROUPPER()
	RET()
}

// newEpi loads the epilogue's arguments (c, ldc when withLdc, flags,
// tail, bias, mask, alpha) and builds the mask of the last vector's lanes.
func (x isa) newEpi(withLdc bool) *epi {
	e := &epi{x: x}
	e.cp = param("c")
	if withLdc {
		e.ldc = param("ldc")
		SHLQ(U8(2), e.ldc)
	}
	e.flags = argAddr("flags")
	e.tailMem = argAddr("tail")
	e.biasMem = argAddr("bias")
	e.mp = param("mask")
	e.alpha = x.vec()
	broadcastParam("alpha", e.alpha)
	e.zero = x.vec()
	VXORPS(e.zero, e.zero, e.zero)
	tail := GP64()
	MOVQ(e.tailMem, tail)
	if x.Z {
		// One opmask for the last vector: its first tail lanes.
		e.km = K()
		bits := GP32()
		MOVL(U32(0xffff), bits)
		BZHIL(tail.As32(), bits, bits)
		KMOVW(bits, e.km)
		return e
	}
	// AVX2: a lane mask for VMASKMOVPS, lanes[l] = tail > l.
	e.lanes = x.vec()
	x.iota(e.lanes)
	t := x.vec()
	VMOVQ(tail, t.AsX())
	VPBROADCASTD(t.AsX(), t)
	VPCMPGTD(e.lanes, t, e.lanes)
	return e
}

// store emits the epilogue of the tile acc: its rows are c, c+ldc, … (the
// pointers are advanced between them, not after the last).
func (e *epi) store(acc [][]reg.VecVirtual) {
	e.acc = acc
	if e.x.Z {
		e.rows(e.lastZ)
		return
	}
	// AVX2: rows whose last vector is whole with plain loads and stores,
	// partial ones through VMASKMOVPS.
	id := labelID()
	partial, done := fmt.Sprintf("partial_%d", id), fmt.Sprintf("stored_%d", id)
	CMPQ(e.tailMem, U8(e.x.Lanes))
	JNE(LabelRef(partial))
	e.rows(e.full)
	JMP(LabelRef(done))
	Label(partial)
	e.rows(e.lastY)
	Label(done)
}

// iota sets v to the int32 lanes 0, 1, 2, … (without a constant in memory,
// which would cost R15 in dynamically linked builds).
func (x isa) iota(v reg.VecVirtual) {
	t := GP64()
	MOVQ(U64(0x0706050403020100), t)
	VMOVQ(t, v.AsX())
	if x.Z {
		MOVQ(U64(0x0f0e0d0c0b0a0908), t)
		VPINSRQ(U8(1), t, v.AsX(), v.AsX())
	}
	VPMOVZXBD(v.AsX(), v)
}

// epi is the state of an epilogue being generated.
type epi struct {
	x                       isa
	acc                     [][]reg.VecVirtual
	cp, ldc, mp             reg.Register
	flags, tailMem, biasMem Mem // arguments, read where needed (GP registers are few)
	alpha, zero, lanes      reg.VecVirtual
	km                      reg.OpmaskVirtual
}

// Kinds of access in the epilogue.
const (
	addC    = iota // v += c
	addBias        // v += bias
	maskBy         // v = masked(v, mask)
	storeC         // c = v
)

// rows emits the epilogue for every row; last emits the accesses of the
// last vector of a row (which may be partial).
func (e *epi) rows(last func(kind int, m Mem, v reg.VecVirtual)) {
	nv := len(e.acc[0])
	vb := e.x.VecBytes()
	id := labelID()
	op := func(kind int, m Mem, v reg.VecVirtual, vec int) {
		if vec == nv-1 {
			last(kind, m, v)
		} else {
			e.full(kind, m, v)
		}
	}
	for i, row := range e.acc {
		l := func(s string) string { return fmt.Sprintf("%s_%d_%d", s, id, i) }
		for _, a := range row {
			VMULPS(e.alpha, a, a)
		}
		TESTQ(U32(flagAdd), e.flags)
		JZ(LabelRef(l("noadd")))
		for v, a := range row {
			op(addC, Mem{Base: e.cp, Disp: v * vb}, a, v)
		}
		Label(l("noadd"))
		TESTQ(U32(flagBias), e.flags)
		JZ(LabelRef(l("nobias")))
		bias := GP64()
		MOVQ(e.biasMem, bias)
		for v, a := range row {
			op(addBias, Mem{Base: bias, Disp: v * vb}, a, v)
		}
		Label(l("nobias"))
		TESTQ(U32(flagReLU), e.flags)
		JZ(LabelRef(l("norelu")))
		for _, a := range row {
			// max(0, a) returns its second operand, a, when a is NaN.
			VMAXPS(a, e.zero, a)
		}
		Label(l("norelu"))
		TESTQ(U32(flagMask), e.flags)
		JZ(LabelRef(l("nomask")))
		for v, a := range row {
			op(maskBy, Mem{Base: e.mp, Disp: v * vb}, a, v)
		}
		Label(l("nomask"))
		for v, a := range row {
			op(storeC, Mem{Base: e.cp, Disp: v * vb}, a, v)
		}
		if i+1 < len(e.acc) {
			ADDQ(e.ldc, e.cp)
			ADDQ(e.ldc, e.mp) // a nil mask pointer is advanced but never read
		}
	}
}

var labels int

// labelID returns a number that makes labels unique within a function.
func labelID() int { labels++; return labels }

// full emits an epilogue access of a whole vector.
func (e *epi) full(kind int, m Mem, v reg.VecVirtual) {
	switch kind {
	case addC, addBias:
		VADDPS(m, v, v)
	case maskBy:
		t := e.x.vec()
		VMOVUPS(m, t)
		e.maskWith(t, v)
	case storeC:
		VMOVUPS(v, m)
	}
}

// maskWith sets v = masked(v, m) lane by lane: v where m > 0, else +0 (a
// NaN in m compares false, so it masks too).
func (e *epi) maskWith(m, v reg.VecVirtual) {
	if e.x.Z {
		k := K()
		VCMPPS(U8(0x1e), e.zero, m, k) // GT_OQ: m > 0
		VMOVAPS_Z(v, k, v)
		return
	}
	VCMPPS(U8(0x1e), e.zero, m, m)
	VANDPS(m, v, v)
}

// lastZ is full for the last vector of a row on AVX-512: loads and the
// store are masked to the first tail lanes by km (masked lanes are not
// accessed, so they cannot fault).
func (e *epi) lastZ(kind int, m Mem, v reg.VecVirtual) {
	t := e.x.vec()
	switch kind {
	case addC, addBias:
		VMOVUPS_Z(m, e.km, t)
		VADDPS(t, v, v)
	case maskBy:
		VMOVUPS_Z(m, e.km, t)
		e.maskWith(t, v)
	case storeC:
		VMOVUPS(v, e.km, m)
	}
}

// lastY is full for a partial last vector on AVX2: VMASKMOVPS reads zeros
// and writes nothing in the lanes that lanes does not select, and does not
// fault there.
func (e *epi) lastY(kind int, m Mem, v reg.VecVirtual) {
	t := e.x.vec()
	switch kind {
	case addC, addBias:
		VMASKMOVPS(m, e.lanes, t)
		VADDPS(t, v, v)
	case maskBy:
		VMASKMOVPS(m, e.lanes, t)
		e.maskWith(t, v)
	case storeC:
		VMASKMOVPS(v, e.lanes, m)
	}
}

const maskSig = "func(s *float32, lds, k, rows int, d *float32, dd int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32)"

// sparseMaskRows generates the AVX-512 sparse kernel for short rows that
// are not worth compacting: it finds each row's nonzeros 64 at a time as a
// bit mask and takes one row of D per set bit.
func (x isa) sparseMaskRows(nv int) {
	if !x.Z {
		return
	}
	name := fmt.Sprintf("sparseMaskRows%s_%d", x.Name, nv)
	TEXT(name, NOSPLIT, maskSig)
	w := nv * x.Lanes
	doc := []string{
		fmt.Sprintf("%s computes %d columns (%d vectors) of rows of C = α·S·D, S[i,k] =", name, w, nv),
		"s[i*lds+k] and D[k,j] = d[k*dd+j], from the nonzeros of each row of S (NaN",
		"is nonzero, ±0 are zeros), then applies the epilogue that flags selects",
		fmt.Sprintf("to the first %d+tail columns. Its reference loop:", w-x.Lanes),
		"",
	}
	doc = append(doc, docLoop(
		"for i := 0; i < rows; i++ {",
		fmt.Sprintf("	for j := 0; j < %d+tail; j++ {", w-x.Lanes),
		"		var t float32",
		"		for kk := 0; kk < k; kk++ {",
		"			if v := s[i*lds+kk]; v != 0 || v != v {",
		"				t += v * d[kk*dd+j]",
		"			}",
		"		}",
		epilogueDoc,
		"	}",
		"}",
	)...)
	doc = append(doc, "",
		"Each row costs one mispredicted branch (the end of its nonzeros) instead",
		"of a compaction; rows of 64 (a batch's pixel across the images) are the",
		"case it is for.")
	Doc(doc...)

	rows := param("rows")
	TESTQ(rows, rows)
	JZ(LabelRef("done"))
	sp := param("s")
	dp := param("d")
	dd := param("dd")
	SHLQ(U8(2), dd)
	e := x.newEpi(true)
	kArg, ldsArg := argAddr("k"), argAddr("lds")

	Label("row")
	a := x.zeroAcc(2, nv)
	k0 := GP64()
	XORQ(k0, k0)
	CMPQ(kArg, U8(0))
	JLE(LabelRef("sum"))

	Label("chunk")
	// m: bit t set when s[k0+t] is nonzero, for the (up to) 64 elements
	// from k0.
	cn := GP64()
	MOVQ(kArg, cn)
	SUBQ(k0, cn)
	m := GP64()
	XORQ(m, m)
	CMPQ(cn, U8(64))
	JL(LabelRef("partial"))
	for q := 3; q >= 0; q-- {
		kq := K()
		VCMPPS(U8(4), Mem{Base: sp, Index: k0, Scale: 4, Disp: 64 * q}, e.zero, kq) // NEQ_UQ: nonzeros and NaN
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
		CMOVQLT(zr, t) // lanes of vector q: clamp(cn-16q, 0, 16) via BZHI
		bits := GP64()
		MOVL(U32(0xffff), bits.As32())
		BZHIL(t.As32(), bits.As32(), bits.As32())
		kq := K()
		KMOVW(bits.As32(), kq)
		z := x.vec()
		VMOVUPS_Z(Mem{Base: sp, Index: k0, Scale: 4, Disp: 64 * q}, kq, z)
		VCMPPS(U8(4), e.zero, z, kq) // NEQ_UQ: nonzeros and NaN
		KMOVW(kq, bits.As32())
		SHLQ(U8(16), m)
		ORQ(bits, m)
	}

	Label("bits")
	for h := 0; h < 2; h++ {
		TESTQ(m, m)
		JZ(LabelRef("next"))
		t := GP64()
		TZCNTQ(m, t)
		BLSRQ(m, m)
		ADDQ(k0, t) // the element's k
		b := x.vec()
		VBROADCASTSS(Mem{Base: sp, Index: t, Scale: 4}, b)
		IMULQ(dd, t)
		for v := 0; v < nv; v++ {
			VFMADD231PS(Mem{Base: dp, Index: t, Scale: 1, Disp: v * x.VecBytes()}, b, a[h][v])
		}
	}
	JMP(LabelRef("bits"))

	Label("next")
	ADDQ(U8(64), k0)
	CMPQ(k0, kArg)
	JL(LabelRef("chunk"))

	Label("sum")
	for v := 0; v < nv; v++ {
		VADDPS(a[1][v], a[0][v], a[0][v])
	}
	e.store(a[:1])
	ADDQ(e.ldc, e.cp)
	ADDQ(e.ldc, e.mp) // a nil mask pointer is advanced but never read
	t := GP64()
	MOVQ(ldsArg, t)
	LEAQ(Mem{Base: sp, Index: t, Scale: 4}, sp)
	DECQ(rows)
	JNZ(LabelRef("row"))

	Label("done")
	VZEROUPPER()
	RET()
}
