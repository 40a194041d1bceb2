package cpu

import (
	"math"
	"unsafe"
)

// The pure-Go kernel set: the GEMM driver's kernels (gemm.go) as Go loops,
// for every CPU without assembly kernels (arm64, amd64 without AVX2, builds
// with -tags noasm). Each kernel computes its assembly twin's reference loop
// (the doc comments of kernels_amd64.go, written out in kernels_ref.go) for
// vectors of goLanes floats, shaped for scalar registers: a tile is one or
// two rows of four columns, whose accumulators stay in registers, and the
// k loops read D through a pointer (the driver pads D to whole vectors and
// keeps every index in range, as it does for the assembly), so that bounds
// checks do not double the instruction count of the hottest loops.
//
// The other ops (Gather, ColumnSums, the optimisers, pooling) run their own
// Go loops on this path, split across threads (threadedOps): one thread
// calling a scalar kernel would be slower. Its elementwise kernels are
// still here, so that the set is complete and tested like the others.

// goLanes is the width of the pure-Go set's "vector": the columns one tile
// computes per row (four accumulators, plus their products, fill the
// sixteen floating-point registers of amd64).
const goLanes = 4

// goKernels is the pure-Go kernel set.
var goKernels = kernelSet{
	name:        "go",
	lanes:       goLanes,
	threadedOps: true,
	// A vector FMA here is four scalar multiply-adds, and skipping zeros
	// pays from small products on (BenchmarkKernelPaths/go).
	fmaScale:  6,
	sparseMin: 16 << 10,
	tiles: [][]tileFunc{
		nil,
		{nil, goTile(1, 1), goTile(2, 1), goTile(3, 1), goTile(4, 1)},
		{nil, goTile(1, 2), goTile(2, 2), goTile(3, 2), goTile(4, 2)},
	},
	listTiles:     []listFunc{nil, goListTile(1), goListTile(2), goListTile(3), goListTile(4)},
	sparseRows:    []sparseFunc{nil, goSparseRows4, goSparseRows8},
	compactRows:   compactRowsGo,
	compactCols:   compactColsGo,
	nonzeroRows:   nonzeroRowsGo,
	transpose:     transposeGo,
	bytesToF32:    bytesToF32Go,
	sgd:           sgdGo,
	sgdMomentum:   sgdMomentumGo,
	adam:          adamGo,
	sumRows:       sumRowsGo,
	windowMax:     windowMaxGo,
	windowScatter: windowScatterGo,
	prefetch:      func(p *uint8, n int) {},
}

// f32 returns the float32 at byte offset off from p.
func f32(p unsafe.Pointer, off int) float32 { return *(*float32)(unsafe.Add(p, off)) }

// vec4 returns the four floats at byte offset off from p.
func vec4(p unsafe.Pointer, off int) *[goLanes]float32 {
	return (*[goLanes]float32)(unsafe.Add(p, off))
}

// goTile returns the tile kernel of mr rows × nv vectors (4 or 8 columns;
// see tileAVX512_1x1 for the reference loop), a row at a time: one
// accumulator per column, each element of S multiplied into a whole row of
// D. The loads of D fold into the multiplies, so eight accumulators fit
// amd64's registers; more (two rows sharing each load of D) spill to the
// stack and run at half the speed.
func goTile(mr, nv int) tileFunc {
	return func(s *float32, rs, ks int, d *float32, dd, kn int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
		for i := 0; i < mr; i++ {
			if nv == 1 {
				t := goDot4(at(s, i*rs), ks, d, dd, kn)
				storeGo(&t, i, c, ldc, alpha, flags, tail, bias, mask)
				continue
			}
			lo, hi := goDot8(at(s, i*rs), ks, d, dd, kn)
			storeGo8(&lo, &hi, i, c, ldc, alpha, flags, tail, bias, mask)
		}
	}
}

// goDot4 returns Σ_k s[k·ks]·D[k, 0:4], D[k, j] = d[k·dd + j].
func goDot4(s *float32, ks int, d *float32, dd, kn int) [goLanes]float32 {
	sp, dp := unsafe.Pointer(s), unsafe.Pointer(d)
	var c0, c1, c2, c3 float32
	for k := 0; k < kn; k++ {
		p, u := vec4(dp, 4*k*dd), f32(sp, 4*k*ks)
		c0 += u * p[0]
		c1 += u * p[1]
		c2 += u * p[2]
		c3 += u * p[3]
	}
	return [goLanes]float32{c0, c1, c2, c3}
}

// goDot8 is goDot4 for the 8 columns D[k, 0:8].
func goDot8(s *float32, ks int, d *float32, dd, kn int) (lo, hi [goLanes]float32) {
	sp, dp := unsafe.Pointer(s), unsafe.Pointer(d)
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for k := 0; k < kn; k++ {
		p, q, u := vec4(dp, 4*k*dd), vec4(dp, 4*k*dd+4*goLanes), f32(sp, 4*k*ks)
		a0 += u * p[0]
		a1 += u * p[1]
		a2 += u * p[2]
		a3 += u * p[3]
		b0 += u * q[0]
		b1 += u * q[1]
		b2 += u * q[2]
		b3 += u * q[3]
	}
	return [goLanes]float32{a0, a1, a2, a3}, [goLanes]float32{b0, b1, b2, b3}
}

// storeGo8 stores row i of a tile two vectors wide: lo whole, the first
// tail of hi.
func storeGo8(lo, hi *[goLanes]float32, i int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
	storeGo(lo, i, c, ldc, alpha, flags, goLanes, bias, mask)
	var bb, mm *float32
	if flags&flagBias != 0 {
		bb = at(bias, goLanes)
	}
	if flags&flagMask != 0 {
		mm = at(mask, goLanes)
	}
	storeGo(hi, i, at(c, goLanes), ldc, alpha, flags, tail, bb, mm)
}

// storeGo stores the first tail of t, row i of a tile, into C with the
// epilogue that flags selects, in storeRef's order, a stage at a time over
// the row rather than testing every flag for every element.
func storeGo(t *[goLanes]float32, i int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
	row := floats(c, i*ldc, tail)
	if flags == 0 && tail == goLanes { // a plain product: most of sparseT's stores
		*(*[goLanes]float32)(row) = [goLanes]float32{alpha * t[0], alpha * t[1], alpha * t[2], alpha * t[3]}
		return
	}
	var v [goLanes]float32
	for j := range row {
		v[j] = alpha * t[j]
	}
	if flags&flagAdd != 0 {
		for j, cj := range row {
			v[j] += cj
		}
	}
	if flags&flagBias != 0 {
		for j, b := range floats(bias, 0, tail) {
			v[j] += b
		}
	}
	if flags&flagReLU != 0 {
		for j := range row {
			v[j] = relu(v[j])
		}
	}
	if flags&flagMask != 0 {
		for j, m := range floats(mask, i*ldc, tail) {
			v[j] = masked(v[j], m)
		}
	}
	for j := range row {
		row[j] = v[j]
	}
}

// goListTile returns the listed-rows tile of mr rows × 4 columns (see
// listTileAVX512_1): S[i,k] = s[k·ks + i] over the rows k of D in list.
func goListTile(mr int) listFunc {
	return func(s *float32, ks int, d *float32, dd int, list *int32, kn int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
		sp, dp := unsafe.Pointer(s), unsafe.Pointer(d)
		rows := unsafe.Slice(list, kn)
		for i := 0; i < mr; i++ {
			var c0, c1, c2, c3 float32
			for _, k := range rows {
				p, u := vec4(dp, 4*int(k)*dd), f32(sp, 4*(int(k)*ks+i))
				c0 += u * p[0]
				c1 += u * p[1]
				c2 += u * p[2]
				c3 += u * p[3]
			}
			storeGo(&[goLanes]float32{c0, c1, c2, c3}, i, c, ldc, alpha, flags, tail, bias, mask)
		}
	}
}

// goSparseRows4 is the sparse-rows kernel one vector (4 columns) wide (see
// sparseRowsAVX512_1): for each compacted row, Σ vals[q]·D[offs[q]/4…],
// offsets in bytes.
func goSparseRows4(vals *float32, offs *int32, cnt *int32, stride, rows int, d *float32, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
	dp := unsafe.Pointer(d)
	for i := 0; i < rows; i++ {
		n := int(*at32(cnt, i))
		vs, os := floats(vals, i*stride, n), unsafe.Slice(at32(offs, i*stride), n)
		var c0, c1, c2, c3 float32
		q := 0
		for ; q+1 < n; q += 2 {
			p, r := vec4(dp, int(os[q])), vec4(dp, int(os[q+1]))
			u, v := vs[q], vs[q+1]
			c0 += u*p[0] + v*r[0]
			c1 += u*p[1] + v*r[1]
			c2 += u*p[2] + v*r[2]
			c3 += u*p[3] + v*r[3]
		}
		if q < n {
			p, u := vec4(dp, int(os[q])), vs[q]
			c0 += u * p[0]
			c1 += u * p[1]
			c2 += u * p[2]
			c3 += u * p[3]
		}
		storeGo(&[goLanes]float32{c0, c1, c2, c3}, i, c, ldc, alpha, flags, tail, bias, mask)
	}
}

// goSparseRows8 is goSparseRows4 two vectors (8 columns) wide: each nonzero
// is loaded once for twice the columns.
func goSparseRows8(vals *float32, offs *int32, cnt *int32, stride, rows int, d *float32, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
	dp := unsafe.Pointer(d)
	for i := 0; i < rows; i++ {
		n := int(*at32(cnt, i))
		vs, os := floats(vals, i*stride, n), unsafe.Slice(at32(offs, i*stride), n)
		var a0, a1, a2, a3, b0, b1, b2, b3 float32
		q := 0
		for ; q+1 < n; q += 2 {
			p, r := vec4(dp, int(os[q])), vec4(dp, int(os[q])+4*goLanes)
			x, y := vec4(dp, int(os[q+1])), vec4(dp, int(os[q+1])+4*goLanes)
			u, v := vs[q], vs[q+1]
			a0 += u*p[0] + v*x[0]
			a1 += u*p[1] + v*x[1]
			a2 += u*p[2] + v*x[2]
			a3 += u*p[3] + v*x[3]
			b0 += u*r[0] + v*y[0]
			b1 += u*r[1] + v*y[1]
			b2 += u*r[2] + v*y[2]
			b3 += u*r[3] + v*y[3]
		}
		if q < n {
			p, r, u := vec4(dp, int(os[q])), vec4(dp, int(os[q])+4*goLanes), vs[q]
			a0 += u * p[0]
			a1 += u * p[1]
			a2 += u * p[2]
			a3 += u * p[3]
			b0 += u * r[0]
			b1 += u * r[1]
			b2 += u * r[2]
			b3 += u * r[3]
		}
		storeGo8(&[goLanes]float32{a0, a1, a2, a3}, &[goLanes]float32{b0, b1, b2, b3}, i, c, ldc, alpha, flags, tail, bias, mask)
	}
}

// compactColsGo is compactRowsGo for the 4 rows of the transpose of s's
// first 4 columns (row-major, row stride lds, n rows): row q's element k
// is s[k·lds + q]. Its reference loop:
//
//	for q := 0; q < 4; q++ {
//		m := 0
//		for k := 0; k < n; k++ {
//			if v := s[k*lds+q]; v != 0 || v != v {
//				vals[q*stride+m], offs[q*stride+m] = v, int32(k*step)
//				m++
//			}
//		}
//		cnt[q] = int32(m)
//	}
//
// Reading the four as one group per k, and skipping all-zero groups (four
// neighbouring pixels of a batch of images), costs a quarter of
// transposing them and compacting four rows.
func compactColsGo(s *float32, lds, n int, vals *float32, offs *int32, cnt *int32, stride, step int) {
	sp := unsafe.Pointer(s)
	v0, v1, v2, v3 := floats(vals, 0, n), floats(vals, stride, n), floats(vals, 2*stride, n), floats(vals, 3*stride, n)
	o0, o1, o2, o3 := unsafe.Slice(offs, n), unsafe.Slice(at32(offs, stride), n), unsafe.Slice(at32(offs, 2*stride), n), unsafe.Slice(at32(offs, 3*stride), n)
	var m0, m1, m2, m3 int
	for k := 0; k < n; k++ {
		g := vec4(sp, 4*k*lds)
		b0, b1, b2, b3 := magnitude(g[0]), magnitude(g[1]), magnitude(g[2]), magnitude(g[3])
		if b0|b1|b2|b3 == 0 {
			continue
		}
		o := int32(k * step)
		v0[m0], o0[m0] = g[0], o
		m0 += isNonzero(b0)
		v1[m1], o1[m1] = g[1], o
		m1 += isNonzero(b1)
		v2[m2], o2[m2] = g[2], o
		m2 += isNonzero(b2)
		v3[m3], o3[m3] = g[3], o
		m3 += isNonzero(b3)
	}
	*at32(cnt, 0), *at32(cnt, 1), *at32(cnt, 2), *at32(cnt, 3) = int32(m0), int32(m1), int32(m2), int32(m3)
}

// nonzeroRowsGo writes to list the rows k < n of D (4 columns from d, row
// stride dd) that are not all zero (NaN counts as nonzero) and returns how
// many there are (see nonzeroRowsAVX512).
func nonzeroRowsGo(d *float32, dd, n int, list *int32) int {
	dp := unsafe.Pointer(d)
	out := unsafe.Slice(list, n)
	m := 0
	for k := 0; k < n; k++ {
		p := vec4(dp, 4*k*dd)
		out[m] = int32(k)
		m += isNonzero(magnitude(p[0]) | magnitude(p[1]) | magnitude(p[2]) | magnitude(p[3]))
	}
	return m
}

// transposeGo writes dst[c·ldd + r] = src[r·lds + c] for r < 4 and c < 4·nb
// (see transposeAVX512), a 4×4 block at a time.
func transposeGo(src *float32, lds int, dst *float32, ldd, nb int) {
	sp, dp := unsafe.Pointer(src), unsafe.Pointer(dst)
	for b := 0; b < nb; b++ {
		c := b * goLanes
		r0, r1, r2, r3 := vec4(sp, 4*c), vec4(sp, 4*(lds+c)), vec4(sp, 4*(2*lds+c)), vec4(sp, 4*(3*lds+c))
		for j := range goLanes {
			*vec4(dp, 4*(c+j)*ldd) = [goLanes]float32{r0[j], r1[j], r2[j], r3[j]}
		}
	}
}

// The elementwise kernels, as their reference loops (see the doc comments of
// their assembly twins, e.g. sgdAVX512).

func bytesToF32Go(dst *float32, src *uint8, n int, scale, shift float32) {
	d := floats(dst, 0, n)
	for i, v := range unsafe.Slice(src, n) {
		d[i] = float32(float32(v)*scale) + shift
	}
}

func sgdGo(p, g *float32, n int, lr float32) {
	ps, gs := floats(p, 0, n), floats(g, 0, n)
	for i := range ps {
		ps[i] -= lr * gs[i]
	}
}

func sgdMomentumGo(p, g, v *float32, n int, lr, mom float32) {
	ps, gs, vs := floats(p, 0, n), floats(g, 0, n), floats(v, 0, n)
	for i := range ps {
		vi := mom*vs[i] + gs[i]
		vs[i] = vi
		ps[i] -= lr * vi
	}
}

func adamGo(p, g, m, v *float32, n int, wd, b1, c1, b2, c2, bc2sqrt, eps, step float32) {
	ps, gs, ms, vs := floats(p, 0, n), floats(g, 0, n), floats(m, 0, n), floats(v, 0, n)
	for i := range ps { // products rounded on their own, as in optJob's loop
		gi := gs[i] + float32(wd*ps[i])
		mi := float32(b1*ms[i]) + float32(c1*gi)
		vi := float32(b2*vs[i]) + float32(float32(c2*gi)*gi)
		ms[i], vs[i] = mi, vi
		denom := float32(math.Sqrt(float64(vi)))/bc2sqrt + eps
		ps[i] -= float32(step * (mi / denom))
	}
}

func sumRowsGo(dst, src *float32, rows, cols, ld int) {
	for j := 0; j < cols; j++ {
		var t float32
		for r := 0; r < rows; r++ {
			t += *at(src, r*ld+j)
		}
		*at(dst, j) = t
	}
}

func windowMaxGo(p *float32, offs *int, n int, best *float32, arg *int32, c int) {
	os := unsafe.Slice(offs, n)
	for ch := 0; ch < c; ch++ {
		b, a := *at(p, os[0]+ch), 0
		for i := 1; i < n; i++ {
			if v := *at(p, os[i]+ch); !(v <= b) && b == b {
				b, a = v, i
			}
		}
		*at(best, ch) = b
		if arg != nil {
			*at32(arg, ch) = int32(a)
		}
	}
}

func windowScatterGo(p *float32, offs *int, n int, dy *float32, arg *int32, c int) {
	os := unsafe.Slice(offs, n)
	var zero float32
	for ch := 0; ch < c; ch++ {
		d := zero + *at(dy, ch)
		for i := 0; i < n; i++ {
			v := zero
			if int(*at32(arg, ch)) == i {
				v = d
			}
			*at(p, os[i]+ch) = v
		}
	}
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
