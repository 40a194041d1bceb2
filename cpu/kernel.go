package cpu

import (
	"math"
	"unsafe"
)

// The GEMM's inner loops. Everything else in the GEMM (packing, blocking,
// the choice of a sparse path, the epilogue) only arranges memory so that
// these loops run over contiguous data; a SIMD implementation replaces these
// functions and keeps their contracts.
//
// A panel is nr = 4 adjacent columns of a K×Q matrix D, stored k-major:
// panel[k·4+j] = D[k, q0+j], zero beyond Q. The micro-kernels compute one
// row of S·D restricted to a panel: 4 dot products of length K.
//
// In pure Go, four accumulators with the k loop unrolled by two is the
// fastest shape on amd64: the compiler keeps 4 accumulators plus the
// products in registers (eight accumulators spill), and the two products
// summed before the accumulate halve the loop-carried dependency.

// nr is the panel width: the number of output columns a micro-kernel computes.
const nr = 4

// dotPanel returns the 4 dot products of the dense row s (length K) with a
// panel of K×4. Its reference loop:
//
//	for k := range s {
//		for j := 0; j < 4; j++ {
//			c[j] += s[k] * panel[k*4+j]
//		}
//	}
func dotPanel(s, panel []float32) (c0, c1, c2, c3 float32) {
	panel = panel[:len(s)*nr]
	k := 0
	for ; k+1 < len(s); k += 2 {
		v0, v1 := s[k], s[k+1]
		p := (*[2 * nr]float32)(panel[k*nr:])
		c0 += v0*p[0] + v1*p[4]
		c1 += v0*p[1] + v1*p[5]
		c2 += v0*p[2] + v1*p[6]
		c3 += v0*p[3] + v1*p[7]
	}
	if k < len(s) {
		v := s[k]
		p := (*[nr]float32)(panel[k*nr:])
		c0 += v * p[0]
		c1 += v * p[1]
		c2 += v * p[2]
		c3 += v * p[3]
	}
	return
}

// denseRow computes one row of T for a block of D packed as panels of
// stride floats each: t[p·4+j] = Σ_k s[k]·panels[p·stride + k·4 + j] for
// p < len(t)/4, by dotPanel.
func denseRow(s, panels []float32, stride int, t []float32) {
	for p := 0; p+nr <= len(t); p += nr {
		c := (*[nr]float32)(t[p:])
		c[0], c[1], c[2], c[3] = dotPanel(s, panels[p/nr*stride:])
	}
}

// sparseRow is denseRow for a row given by its nonzeros (see sparseDotPanel).
// Rows of the transposed weight gradient have a dozen nonzeros, so the
// loop over panels lives here rather than around a call per panel.
func sparseRow(nz []nonzero, panels []float32, stride int, t []float32) {
	for p := 0; p+nr <= len(t); p += nr {
		c := (*[nr]float32)(t[p:])
		c[0], c[1], c[2], c[3] = sparseDotPanel(nz, panels[p/nr*stride:(p/nr+1)*stride])
	}
}

// nonzero is one nonzero of a compacted row: its value and its offset
// (k·4 for column k) into a panel.
type nonzero struct {
	off uint32
	val float32
}

// sparseDotPanel is dotPanel for a row given by its nonzeros, which must
// come in ascending order of offset (as compact writes them). Its reference
// loop:
//
//	for _, e := range nz {
//		for j := 0; j < 4; j++ {
//			c[j] += e.val * panel[e.off+j]
//		}
//	}
//
// This is the hottest loop of a training step on MNIST, and bounds checks
// and slice arithmetic double its instruction count, so it indexes the
// panel through a pointer: ascending offsets mean that checking the last
// one against the panel's length checks them all.
func sparseDotPanel(nz []nonzero, panel []float32) (c0, c1, c2, c3 float32) {
	n := len(nz)
	if n == 0 {
		return
	}
	if int(nz[n-1].off)+nr > len(panel) {
		panic("cpu: sparseDotPanel: offset beyond the panel")
	}
	base := unsafe.Pointer(unsafe.SliceData(panel))
	at := func(off uint32) *[nr]float32 { return (*[nr]float32)(unsafe.Add(base, uintptr(off)*4)) }
	t := 0
	for ; t+1 < n; t += 2 {
		e := (*[2]nonzero)(nz[t:])
		p, q := at(e[0].off), at(e[1].off)
		v0, v1 := e[0].val, e[1].val
		c0 += v0*p[0] + v1*q[0]
		c1 += v0*p[1] + v1*q[1]
		c2 += v0*p[2] + v1*q[2]
		c3 += v0*p[3] + v1*q[3]
	}
	if t < n {
		p, v := at(nz[t].off), nz[t].val
		c0 += v * p[0]
		c1 += v * p[1]
		c2 += v * p[2]
		c3 += v * p[3]
	}
	return
}

// compact writes the nonzeros of the strided row s[0], s[stride], …,
// s[(n-1)·stride] into nz, with offsets index·4, and returns how many there
// are; nz must hold n elements. Its reference loop:
//
//	for k := 0; k < n; k++ {
//		if v := s[k*stride]; v != 0 {
//			nz[m] = nonzero{uint32(k * 4), v}
//			m++
//		}
//	}
//
// Zeros come in runs (an image's background), so groups of four are tested
// at once and skipped; within a group that has a nonzero, every element is
// written and the count advances only past nonzeros, without a branch
// (whether a pixel is zero is as unpredictable as the image).
func compact(s []float32, n, stride int, nz []nonzero) int {
	nz = nz[:n]
	m, k := 0, 0
	if stride == 1 {
		s = s[:n]
		for ; k+4 <= n; k += 4 {
			c := (*[4]float32)(s[k:])
			b0, b1, b2, b3 := magnitude(c[0]), magnitude(c[1]), magnitude(c[2]), magnitude(c[3])
			if b0|b1|b2|b3 == 0 {
				continue
			}
			o := uint32(k * nr)
			nz[m] = nonzero{o, c[0]}
			m += isNonzero(b0)
			nz[m] = nonzero{o + nr, c[1]}
			m += isNonzero(b1)
			nz[m] = nonzero{o + 2*nr, c[2]}
			m += isNonzero(b2)
			nz[m] = nonzero{o + 3*nr, c[3]}
			m += isNonzero(b3)
		}
	} else {
		for ; k+4 <= n; k += 4 {
			v0, v1, v2, v3 := s[k*stride], s[(k+1)*stride], s[(k+2)*stride], s[(k+3)*stride]
			b0, b1, b2, b3 := magnitude(v0), magnitude(v1), magnitude(v2), magnitude(v3)
			if b0|b1|b2|b3 == 0 {
				continue
			}
			o := uint32(k * nr)
			nz[m] = nonzero{o, v0}
			m += isNonzero(b0)
			nz[m] = nonzero{o + nr, v1}
			m += isNonzero(b1)
			nz[m] = nonzero{o + 2*nr, v2}
			m += isNonzero(b2)
			nz[m] = nonzero{o + 3*nr, v3}
			m += isNonzero(b3)
		}
	}
	for ; k < n; k++ {
		v := s[k*stride]
		nz[m] = nonzero{uint32(k * nr), v}
		m += isNonzero(magnitude(v))
	}
	return m
}

// compact4 is compact for four rows that are adjacent in memory: row q's
// element k is s[q + k·stride] (the columns of an input batch, when the
// weight gradient is computed transposed). Reading the four as one group
// per k, and skipping all-zero groups (four neighbouring pixels of an
// image), costs a quarter of four calls to compact. Each nz[q] must hold n
// elements.
func compact4(s []float32, n, stride int, nz *[4][]nonzero) (counts [4]int) {
	nz0, nz1, nz2, nz3 := nz[0][:n], nz[1][:n], nz[2][:n], nz[3][:n]
	var m0, m1, m2, m3 int
	for k := 0; k < n; k++ {
		g := (*[4]float32)(s[k*stride:])
		b0, b1, b2, b3 := magnitude(g[0]), magnitude(g[1]), magnitude(g[2]), magnitude(g[3])
		if b0|b1|b2|b3 == 0 {
			continue
		}
		o := uint32(k * nr)
		nz0[m0] = nonzero{o, g[0]}
		m0 += isNonzero(b0)
		nz1[m1] = nonzero{o, g[1]}
		m1 += isNonzero(b1)
		nz2[m2] = nonzero{o, g[2]}
		m2 += isNonzero(b2)
		nz3[m3] = nonzero{o, g[3]}
		m3 += isNonzero(b3)
	}
	return [4]int{m0, m1, m2, m3}
}

// magnitude returns v's bits without the sign, shifted left: 0 exactly for
// ±0, nonzero for everything else (NaN included).
func magnitude(v float32) uint32 { return math.Float32bits(v) << 1 }

// isNonzero returns 1 when b is not 0, else 0, without a branch.
func isNonzero(b uint32) int { return int((b | -b) >> 31) }

// gatherRow copies the strided row s[0], s[stride], … (n elements) into dst.
func gatherRow(dst, s []float32, n, stride int) []float32 {
	dst = dst[:n]
	for k := range dst {
		dst[k] = s[k*stride]
	}
	return dst
}
