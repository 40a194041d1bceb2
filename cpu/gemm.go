package cpu

import (
	"github.com/mnist-go/mnist/nn"
)

// The GEMM computes C = α·op(A)·op(B) + β·C and the epilogue (see nn.Gemm)
// as rows of a product T = S·D, in one of two orientations:
//
//	direct:     S = op(A) (M×K), D = op(B) (K×N), T = C
//	transposed: S = op(B)ᵀ (N×K), D = op(A)ᵀ (K×M), T = Cᵀ
//
// D is packed into panels of nr columns (see kernel.go), a cache block at a
// time; each worker takes a share of S's rows and, for each row, runs the
// micro-kernel over every panel, then writes the row of T into C with the
// epilogue applied. S's rows are either used as they are (dense) or first
// compacted into their nonzeros (sparse), so that zeros cost nothing: 81% of
// MNIST's pixels are exactly zero, so the first layer's forward pass (S = the
// input batch) and its weight gradient (transposed: S = the input batch seen
// column by column) do a fifth of the work. Which orientation and which row
// form a call uses is chosen from the shapes and a sample of the operands'
// zeros (choosePath).

// Cache blocking: a block of D (kc×qc floats, packed) is sized to stay in
// L2 while the rows of S stream past it, each row (kc floats, or its
// nonzeros) staying in L1 while it meets every panel of the block.
const (
	maxKC      = 1024      // longest K block
	blockBytes = 512 << 10 // packed D block budget
)

// path is how a GEMM call computes T.
type path uint8

const (
	denseDirect path = iota
	sparseDirect
	denseTransposed
	sparseTransposed
)

func (p path) transposed() bool { return p == denseTransposed || p == sparseTransposed }
func (p path) sparse() bool     { return p == sparseDirect || p == sparseTransposed }

// Gemm computes g.C as nn.Gemm describes: it packs one operand into panels
// and runs a micro-kernel over the rows of the other, skipping their zeros
// when that operand is sparse enough (see the comment at the top of gemm.go).
func (b *Backend) Gemm(g nn.Gemm) {
	a, bm, c, bias, mask, ok := b.core.GemmArgs(g)
	if !ok {
		return
	}
	m, n, k := g.M, g.N, g.K
	if m == 0 || n == 0 {
		return
	}
	e := epilogue{c: c, ldc: n, alpha: g.Alpha, beta: g.Beta, bias: bias, relu: g.ReLU, mask: mask}
	if k == 0 || g.Alpha == 0 {
		b.scaleJob = scaleJob{e: e, m: m, n: n}
		b.runJob(&b.scaleJob, m*n)
		return
	}
	if ks := b.kernels(); ks.simd() {
		b.prefetchAhead()
		b.simdGemmRun(ks, e, a, bm, m, n, k, g.TransA, g.TransB)
		return
	}
	j := &b.gemmJob
	*j = gemmJob{b: b, e: e, workers: j.workers, forceKernels: j.forceKernels, forceSimd: j.forceSimd, simd: j.simd}
	j.plan(a, bm, m, n, k, g.TransA, g.TransB)
	j.runBlocks(m*n*k/16 >= minParallelWork && b.pool.workers > 1)
}

// gemmJob is one GEMM call: the plan and the shared packed blocks of D.
type gemmJob struct {
	b *Backend
	e epilogue

	path  path
	r, q  int // T is r×q
	k     int
	s     []float32 // S[i, p] = s[i·sRow + p·sCol]
	sRow  int
	sCol  int
	d     []float32 // D[p, j] = d[p·dRow + j·dCol]
	dRow  int
	dCol  int
	kc    int // K block
	qc    int // Q block (a multiple of nr)
	packd []float32

	// The current block, D[k0:k1, q0:q1], and the rows per chunk.
	k0, k1, q0, q1 int
	panels         int
	rowsChunk      int

	workers []workerScratch // per worker: row buffers

	// The SIMD kernels' GEMM (simd.go) and its scratch, and what tests force.
	simd         simdGemm
	forceKernels *kernelSet // nil: the process's default (kernels.go)
	forceSimd    *simdPath  // nil: chosen per call by the cost model
}

// workerScratch is a worker's private buffers, kept between calls.
type workerScratch struct {
	t   []float32    // a chunk's rows of T for the current Q block
	row []float32    // a gathered dense row of S
	nz4 [4][]nonzero // up to four compacted rows of S
	_   [64]byte     // keep workers' slice headers on separate cache lines
}

// plan fills in the orientation, the row form and the blocking.
func (j *gemmJob) plan(a, bm []float32, m, n, k int, transA, transB bool) {
	// Strides of op(A) (M×K) and op(B) (K×N) elements in their storage.
	aRow, aCol := k, 1
	if transA {
		aRow, aCol = 1, m
	}
	bRow, bCol := n, 1
	if transB {
		bRow, bCol = 1, k
	}
	j.k = k
	j.path = choosePath(a, bm, m, n, k, transA, transB)
	if j.b.forcePath != nil {
		j.path = *j.b.forcePath
	}
	if j.path.transposed() {
		// S = op(B)ᵀ: S[i, p] = op(B)[p, i]; D = op(A)ᵀ: D[p, j] = op(A)[j, p].
		j.r, j.q = n, m
		j.s, j.sRow, j.sCol = bm, bCol, bRow
		j.d, j.dRow, j.dCol = a, aCol, aRow
	} else {
		j.r, j.q = m, n
		j.s, j.sRow, j.sCol = a, aRow, aCol
		j.d, j.dRow, j.dCol = bm, bRow, bCol
	}
	blocks := (k + maxKC - 1) / maxKC
	j.kc = (k + blocks - 1) / blocks
	qc := blockBytes / 4 / j.kc / nr * nr
	j.qc = max(nr, min(qc, (j.q+nr-1)/nr*nr))
	// Several chunks per worker, so that a late or slow worker is covered;
	// a multiple of 4 rows, for compact4.
	j.rowsChunk = max(minRowsChunk, min(maxRowsChunk, j.r/(4*j.b.pool.workers))) &^ 3

	// Shared and per-worker buffers, grown only.
	j.packd = grow(j.b.packd, j.kc*j.qc)
	j.b.packd = j.packd
	nw := j.b.pool.workers
	if len(j.workers) < nw {
		j.workers = make([]workerScratch, nw)
	}
	for w := range j.workers {
		ws := &j.workers[w]
		ws.t = grow(ws.t, j.rowsChunk*j.qc)
		ws.row = grow(ws.row, j.kc)
		for q := range ws.nz4 {
			if cap(ws.nz4[q]) < j.kc {
				ws.nz4[q] = make([]nonzero, j.kc)
			}
			ws.nz4[q] = ws.nz4[q][:j.kc]
		}
	}
}

// Tuning of the path choice, in units of one multiply-add of the dense
// kernel: the sparse kernel is a little slower per multiply-add, compacting
// costs about one unit per element scanned, and writing T transposed costs
// a few units per element of C.
const (
	sparseCost     = 1.25
	compactCost    = 0.5
	transposedCost = 2.0
	minSparseWork  = 16 << 10 // below this many multiply-adds, always dense direct
)

// choosePath estimates the cost of each way to compute the product and
// returns the cheapest. The density of zeros is estimated from a few rows.
func choosePath(a, bm []float32, m, n, k int, transA, transB bool) path {
	if m*n*k < minSparseWork {
		return denseDirect
	}
	pad := func(x int) float64 { return float64((x + nr - 1) / nr * nr) }
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	dA, dB := density(a, aRows, aCols), density(bm, bRows, bCols)
	M, N, K := float64(m), float64(n), float64(k)
	costs := [4]float64{
		denseDirect:      M * pad(n) * K,
		sparseDirect:     M*K*compactCost + M*pad(n)*K*dA*sparseCost,
		denseTransposed:  N*pad(m)*K + M*N*transposedCost,
		sparseTransposed: N*K*compactCost + N*pad(m)*K*dB*sparseCost + M*N*transposedCost,
	}
	best := denseDirect
	for p := range costs {
		if costs[p] < costs[best] {
			best = path(p)
		}
	}
	return best
}

// density estimates the fraction of nonzeros of a rows×cols matrix from up
// to four rows spread over it (rows of stored matrices are contiguous, and
// for a batch of images each row is one image).
func density(x []float32, rows, cols int) float64 {
	const samples = 4
	n, nz := 0, 0
	for i := 0; i < samples && i < rows; i++ {
		r := i * rows / min(samples, rows)
		for _, v := range x[r*cols : (r+1)*cols] {
			if v != 0 {
				nz++
			}
		}
		n += cols
	}
	if n == 0 {
		return 1
	}
	return float64(nz) / float64(n)
}

// runBlocks computes T block by block: for each block of D, phase 0 packs
// its panels (a few per chunk) and phase 1 computes T's rows for it, a few
// rows per chunk.
func (j *gemmJob) runBlocks(parallel bool) {
	for q0 := 0; q0 < j.q; q0 += j.qc {
		for k0 := 0; k0 < j.k; k0 += j.kc {
			j.q0, j.q1 = q0, min(j.q, q0+j.qc)
			j.k0, j.k1 = k0, min(j.k, k0+j.kc)
			j.panels = (j.q1 - j.q0 + nr - 1) / nr
			if parallel {
				j.b.pool.run(j)
			} else {
				runInline(j)
			}
		}
	}
}

// Chunk sizes: panels packed per chunk, and rows of T computed per chunk.
const (
	panelsPerChunk = 4
	minRowsChunk   = 4
	maxRowsChunk   = 64
)

func (j *gemmJob) chunks() (int, int) {
	return chunkCount(j.panels, panelsPerChunk), chunkCount(j.r, j.rowsChunk)
}

func (j *gemmJob) do(w, phase, c int) {
	if phase == 0 {
		lo, hi := chunkRange(c, j.panels, panelsPerChunk)
		j.pack(lo, hi)
		return
	}
	ws := &j.workers[w]
	kc := j.k1 - j.k0
	tw := j.panels * nr // width of a row of T in ws.t
	first, last := j.k0 == 0, j.k1 == j.k
	r0, r1 := chunkRange(c, j.r, j.rowsChunk)
	if j.path.sparse() {
		j.sparseRows(ws, r0, r1, kc, tw)
	} else {
		j.denseRows(ws, r0, r1, kc, tw)
	}
	row := func(i int) []float32 { return ws.t[(i-r0)*tw : (i-r0)*tw+j.q1-j.q0] }
	for i := r0; i < r1; i++ {
		switch {
		case !j.path.transposed():
			j.e.storeRow(i, j.q0, row(i), first, last)
		case i+4 <= r1:
			j.e.storeColumns4(i, j.q0, &[4][]float32{row(i), row(i + 1), row(i + 2), row(i + 3)}, first, last)
			i += 3
		default:
			j.e.storeColumn(i, j.q0, row(i), first, last)
		}
	}
}

// sparseRows computes rows [r0, r1) of T for the packed block: compact
// each row of S (four at a time where four rows are adjacent in memory),
// then run the sparse kernel over every panel.
func (j *gemmJob) sparseRows(ws *workerScratch, r0, r1, kc, tw int) {
	stride := kc * nr
	panels := j.packd[:j.panels*stride]
	for i := r0; i < r1; {
		s := j.s[i*j.sRow+j.k0*j.sCol:]
		if j.sRow == 1 && j.sCol != 1 && i+4 <= r1 {
			counts := compact4(s, kc, j.sCol, &ws.nz4)
			for q, n := range counts {
				sparseRow(ws.nz4[q][:n], panels, stride, ws.t[(i+q-r0)*tw:(i+q-r0+1)*tw])
			}
			i += 4
			continue
		}
		n := compact(s, kc, j.sCol, ws.nz4[0])
		sparseRow(ws.nz4[0][:n], panels, stride, ws.t[(i-r0)*tw:(i-r0+1)*tw])
		i++
	}
}

// denseRows computes rows [r0, r1) of T for the packed block with the
// dense kernel, gathering rows of S that are not contiguous.
func (j *gemmJob) denseRows(ws *workerScratch, r0, r1, kc, tw int) {
	stride := kc * nr
	panels := j.packd[:j.panels*stride]
	for i := r0; i < r1; i++ {
		var row []float32
		if j.sCol == 1 {
			row = j.s[i*j.sRow+j.k0 : i*j.sRow+j.k0+kc]
		} else {
			row = gatherRow(ws.row, j.s[i*j.sRow+j.k0*j.sCol:], kc, j.sCol)
		}
		denseRow(row, panels, stride, ws.t[(i-r0)*tw:(i-r0+1)*tw])
	}
}

// pack writes panels [lo, hi) of the block D[k0:k1, q0:q1] into packd.
func (j *gemmJob) pack(lo, hi int) {
	k0, k1, q0, q1 := j.k0, j.k1, j.q0, j.q1
	kc := k1 - k0
	for p := lo; p < hi; p++ {
		dst := j.packd[p*kc*nr : (p+1)*kc*nr]
		qa := q0 + p*nr
		width := min(nr, q1-qa)
		switch {
		case j.dCol == 1 && width == nr:
			// Rows of D are contiguous: copy 4 at a time.
			for kk := 0; kk < kc; kk++ {
				*(*[nr]float32)(dst[kk*nr:]) = *(*[nr]float32)(j.d[(k0+kk)*j.dRow+qa:])
			}
		case j.dRow == 1 && width == nr:
			// Columns of D are contiguous: interleave four of them.
			c0 := j.d[qa*j.dCol+k0:][:kc]
			c1 := j.d[(qa+1)*j.dCol+k0:][:kc]
			c2 := j.d[(qa+2)*j.dCol+k0:][:kc]
			c3 := j.d[(qa+3)*j.dCol+k0:][:kc]
			for kk := range c0 {
				d := (*[nr]float32)(dst[kk*nr:])
				d[0], d[1], d[2], d[3] = c0[kk], c1[kk], c2[kk], c3[kk]
			}
		default:
			// An edge panel (zero beyond Q), or a general stride.
			clear(dst)
			for jj := 0; jj < width; jj++ {
				for kk := 0; kk < kc; kk++ {
					dst[kk*nr+jj] = j.d[(k0+kk)*j.dRow+(qa+jj)*j.dCol]
				}
			}
		}
	}
}

// grow returns s with length n, reallocating only when its capacity is short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
