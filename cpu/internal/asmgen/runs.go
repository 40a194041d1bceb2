package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The runs of im2col and col2im: a row of the column matrix is C·KH runs of
// KW contiguous floats, each from (or, for col2im, added back into) its own
// place in an image's padded planes (cpu/conv.go). A run is one masked
// vector here, where Go moves it 8 bytes at a time. AVX-512 only (with
// VL: its opmasks on 8-float ymm vectors): a run of up to 8 floats is one
// masked load, or one masked add, and a masked-off lane neither faults nor
// changes. Stores are of whole vectors wherever the callers allow it: a
// masked store to memory costs several times an unmasked one on AMD's
// processors (Zen 5: the masked im2col was no faster than Go's 8-byte
// moves, the masked col2im twice as slow). And the vectors are of 8
// floats, not 16: consecutive runs are a plane's width apart (12 floats in
// the cnn's conv2), and a load that overlaps the last whole-vector store
// waits for it to reach the cache (col2im with zmm: 2.5× slower than Go).

// runLanes is the runs kernels' vector width, in floats.
const runLanes = 8

// runMask sets k to the lowest n bits, n in a register (BZHI of all ones).
func runMask(n reg.GPVirtual, k reg.OpmaskVirtual) {
	ones := GP32()
	MOVL(U32(0xff), ones)
	BZHIL(n.As32(), ones, ones)
	KMOVW(ones, k)
}

// eachRun emits the loop of the runs kernels over their n runs: body gets
// the run's offset (runs[r], in floats) and advances its own pointers; the
// loop advances runs. Then the kernel's return.
func eachRun(runs, n reg.GPVirtual, body func(off reg.GPVirtual)) {
	Label("run")
	TESTQ(n, n)
	JZ(LabelRef("done"))
	off := GP64()
	MOVQ(Mem{Base: runs}, off)
	body(off)
	ADDQ(U8(8), runs)
	DECQ(n)
	JMP(LabelRef("run"))
	Label("done")
	VZEROUPPER()
	RET()
}

// copyRuns generates im2col's row: n runs of kw floats (kw ≤ 16) from
// src+runs[r], one after the other into dst.
func (x isa) copyRuns() {
	if !x.Z {
		return
	}
	name := "copyRuns" + x.Name
	TEXT(name, NOSPLIT, "func(dst, src *float32, runs *int, n, kw, spill int)")
	Doc(append([]string{
		fmt.Sprintf("%s copies n runs of kw floats (1 ≤ kw ≤ %d) from src+runs[r] to", name, runLanes),
		"dst, one after the other, the bits as they are, and may write anything",
		"into the spill floats after them (what comes next overwrites them). Its",
		"reference loop:",
		"",
	}, docLoop(
		"for r := 0; r < n; r++ {",
		"	for t := 0; t < kw; t++ {",
		"		dst[r*kw+t] = src[runs[r]+t]",
		"	}",
		"}",
	)...)...)
	dst, src, runs, n, kw := param("dst"), param("src"), param("runs"), param("n"), param("kw")
	k := K()
	runMask(kw, k)
	SHLQ(U8(2), kw) // bytes a run
	// A run is stored as a whole vector while that stays inside dst and
	// its spill (the next runs overwrite what it writes past its kw
	// floats): masked stores are slow on some processors (AMD's). The
	// last runs, masked.
	rem := GP64() // bytes of dst and the spill from the run on
	MOVQ(n, rem)
	IMULQ(kw, rem)
	spill := param("spill")
	LEAQ(Mem{Base: rem, Index: spill, Scale: 4}, rem)
	eachRun(runs, n, func(off reg.GPVirtual) {
		v := YMM()
		VMOVUPS_Z(Mem{Base: src, Index: off, Scale: 4}, k, v)
		CMPQ(rem, U8(4*runLanes))
		JL(LabelRef("masked"))
		VMOVUPS(v, Mem{Base: dst})
		JMP(LabelRef("stored"))
		Label("masked")
		VMOVUPS(v, k, Mem{Base: dst})
		Label("stored")
		ADDQ(kw, dst)
		SUBQ(kw, rem)
	})
}

// addRuns generates col2im's single window: n runs of kw floats from src,
// one after the other, each added into dst+runs[r].
func (x isa) addRuns() {
	if !x.Z {
		return
	}
	name := "addRuns" + x.Name
	TEXT(name, NOSPLIT, "func(dst, src *float32, runs *int, n, kw int)")
	Doc(append([]string{
		fmt.Sprintf("%s adds n runs of kw floats (1 ≤ kw ≤ %d) of src, one after the", name, runLanes),
		"other, into dst+runs[r]: copyRuns's adjoint. It loads and stores a whole",
		fmt.Sprintf("vector at dst+runs[r] (the floats past the run unchanged): %d floats", runLanes),
		"from each must be in dst. Its reference loop:",
		"",
	}, docLoop(
		"for r := 0; r < n; r++ {",
		"	for t := 0; t < kw; t++ {",
		"		dst[runs[r]+t] += src[r*kw+t]",
		"	}",
		"}",
	)...)...)
	dst, src, runs, n, kw := param("dst"), param("src"), param("runs"), param("n"), param("kw")
	k := K()
	runMask(kw, k)
	SHLQ(U8(2), kw)
	eachRun(runs, n, func(off reg.GPVirtual) {
		at := Mem{Base: dst, Index: off, Scale: 4}
		d, s := YMM(), YMM()
		VMOVUPS(at, d) // whole vectors: masked stores are slow on some processors (AMD's)
		VMOVUPS_Z(Mem{Base: src}, k, s)
		VADDPS(s, d, k, d)
		VMOVUPS(d, at)
		ADDQ(kw, src)
	})
}

// addRunPairs generates col2im's two neighbouring windows of stride 1: their
// runs overlap in kw−1 floats, which are loaded and stored once for both.
func (x isa) addRunPairs() {
	if !x.Z {
		return
	}
	name := "addRunPairs" + x.Name
	TEXT(name, NOSPLIT, "func(dst, lo, hi *float32, runs *int, n, kw int)")
	Doc(append([]string{
		fmt.Sprintf("%s adds the runs of two windows of stride 1 (1 ≤ kw ≤ %d): hi's,", name, runLanes-1),
		"at dst+runs[r]+1, then lo's, at dst+runs[r], each element getting hi's",
		"term first as two addRuns calls (hi, then lo) would add them. Like",
		"addRuns, it loads and stores whole vectors at dst+runs[r]. Its reference",
		"loop:",
		"",
	}, docLoop(
		"for r := 0; r < n; r++ {",
		"	d := dst[runs[r]:]",
		"	for t := 0; t <= kw; t++ {",
		"		v := d[t]",
		"		if t > 0 {",
		"			v += hi[r*kw+t-1]",
		"		}",
		"		if t < kw {",
		"			v += lo[r*kw+t]",
		"		}",
		"		d[t] = v",
		"	}",
		"}",
	)...)...)
	dst, lo, hi, runs, n, kw := param("dst"), param("lo"), param("hi"), param("runs"), param("n"), param("kw")
	kl, kh := K(), K()
	runMask(kw, kl) // lanes 0…kw−1: lo's run
	KSHIFTLW(U8(1), kl, kh)
	SUBQ(U8(4), hi) // lane t of a load of hi's run holds its element t−1
	SHLQ(U8(2), kw)
	eachRun(runs, n, func(off reg.GPVirtual) {
		at := Mem{Base: dst, Index: off, Scale: 4}
		d, h, l := YMM(), YMM(), YMM()
		VMOVUPS(at, d)
		VMOVUPS_Z(Mem{Base: hi}, kh, h) // lane 0 masked off: hi−1 is not read
		VMOVUPS_Z(Mem{Base: lo}, kl, l)
		VADDPS(h, d, kh, d)
		VADDPS(l, d, kl, d)
		VMOVUPS(d, at)
		ADDQ(kw, lo)
		ADDQ(kw, hi)
	})
}
