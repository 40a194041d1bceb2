package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// expReduced generates the softmax's exponentials, eight float64 lanes at a
// time: cpu.expReduced's operations in its order (a multiply, then an add,
// never fused), so that every lane has the bits the Go function gives.
// AVX-512 only (DQ for the float64 to int64 conversion).
func (x isa) expReduced() {
	if !x.Z {
		return
	}
	name := "expReduced" + x.Name
	TEXT(name, NOSPLIT, "func(dst, src *float64, n int) int")
	Doc(append([]string{
		fmt.Sprintf("%s sets dst[i] = expReduced(src[i]) (cpu/ops.go), bit for bit, for", name),
		"i < n, n a multiple of 8, where −708 < src[i] ≤ 0; elsewhere (NaN, −708",
		"and below, above 0) dst[i] = src[i], and it returns how many such lanes",
		"there were, for the caller to finish with math.Exp. Its reference loop:",
		"",
	}, docLoop(
		"out := 0",
		"for i := 0; i < n; i++ {",
		"	if v := src[i]; v > -708 && v <= 0 {",
		"		dst[i] = expReduced(v)",
		"	} else {",
		"		dst[i] = v",
		"		out++",
		"	}",
		"}",
		"return out",
	)...)...)
	// The constants of expReduced, as Go rounds them.
	const (
		log2e = 1.4426950408889634
		ln2hi = 6.93147180369123816490e-01
		ln2lo = 1.90821492927058770002e-10
		round = 0x1.8p52
	)
	consts := map[string]float64{
		"log2e": log2e, "ln2hi": ln2hi, "ln2lo": ln2lo, "round": round, "one": 1,
		"c2": 1. / 2, "c6": 1. / 6, "c24": 1. / 24, "c120": 1. / 120, "c720": 1. / 720, "c5040": 1. / 5040, "c40320": 1. / 40320,
		"lo": -708, "zero": 0,
	}
	c := map[string]reg.VecVirtual{}
	for _, k := range []string{"log2e", "ln2hi", "ln2lo", "round", "one", "c2", "c6", "c24", "c120", "c720", "c5040", "c40320", "lo", "zero"} {
		t := GP64()
		MOVQ(U64(math.Float64bits(consts[k])), t)
		c[k] = ZMM()
		VPBROADCASTQ(t, c[k])
	}
	bias := ZMM() // 1023 as int64 lanes
	{
		t := GP64()
		MOVQ(U64(1023), t)
		VPBROADCASTQ(t, bias)
	}
	dst, src, n := param("dst"), param("src"), param("n")
	out := GP64()
	XORQ(out, out)
	Label("vec")
	CMPQ(n, U8(8))
	JL(LabelRef("done"))
	v := ZMM()
	VMOVUPD(Mem{Base: src}, v)
	// n := (x*log2e + round) - round
	nn := ZMM()
	VMULPD(c["log2e"], v, nn)
	VADDPD(c["round"], nn, nn)
	VSUBPD(c["round"], nn, nn)
	// r := x - n*ln2hi - n*ln2lo
	r, t := ZMM(), ZMM()
	VMULPD(c["ln2hi"], nn, t)
	VSUBPD(t, v, r)
	VMULPD(c["ln2lo"], nn, t)
	VSUBPD(t, r, r)
	// r2 := r*r
	r2 := ZMM()
	VMULPD(r, r, r2)
	// b0 := (1 + r) + r2*(1./2+r*(1./6))
	b0, u := ZMM(), ZMM()
	VMULPD(c["c6"], r, u)
	VADDPD(u, c["c2"], u)
	VMULPD(u, r2, u)
	VADDPD(r, c["one"], b0)
	VADDPD(u, b0, b0)
	// b1 := (1./24 + r*(1./120)) + r2*(1./720+r*(1./5040))
	b1, w := ZMM(), ZMM()
	VMULPD(c["c120"], r, b1)
	VADDPD(b1, c["c24"], b1)
	VMULPD(c["c5040"], r, w)
	VADDPD(w, c["c720"], w)
	VMULPD(w, r2, w)
	VADDPD(w, b1, b1)
	// p := b0 + r2*r2*(b1+r2*r2*(1./40320)), r2*r2 taken once: the same product
	r4 := ZMM()
	VMULPD(r2, r2, r4)
	VMULPD(c["c40320"], r4, w)
	VADDPD(w, b1, w)
	VMULPD(w, r4, w)
	VADDPD(w, b0, w)
	// p * 2^n, 2^n from the bits (int64(n)+1023)<<52
	e := ZMM()
	VCVTPD2QQ(nn, e) // n is a whole number: exact in any rounding mode
	VPADDQ(bias, e, e)
	VPSLLQ(U8(52), e, e)
	VMULPD(e, w, w)
	// Lanes outside (−708, 0], NaN among them, keep src.
	in, hi := K(), K()
	VCMPPD(U8(0x1e), c["lo"], v, in)   // v > −708 (GT_OQ: false for NaN)
	VCMPPD(U8(0x12), c["zero"], v, hi) // v ≤ 0 (LE_OQ)
	KANDB(in, hi, in)
	VBLENDMPD(w, v, in, v) // in ? w : v
	VMOVUPD(v, Mem{Base: dst})
	bits := GP32()
	KMOVB(in, bits)
	XORL(U32(0xff), bits)
	POPCNTL(bits, bits)
	ADDQ(bits.As64(), out)
	ADDQ(U8(64), src)
	ADDQ(U8(64), dst)
	SUBQ(U8(8), n)
	JMP(LabelRef("vec"))
	Label("done")
	Store(out, ReturnIndex(0))
	VZEROUPPER()
	RET()
}
