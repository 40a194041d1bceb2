package cpu

import (
	"cmp"

	"github.com/mnist-go/mnist/nn"
)

// The GEMM driver: C = α·S·D + β·C and the epilogue (see nn.Gemm),
// S = op(A) (M×K) and D = op(B) (K×N), on the backend's kernel set
// (kernels.go: AVX-512 or AVX2 assembly, or their pure-Go twins), in one of
// four ways:
//
//	dense    register tiles of mr rows × nv vectors of C over every k (tile
//	         kernels): the default; two thirds to three quarters of one
//	         core's FMA peak on 64×64×784 with AVX-512 (bench/RESULTS.md).
//	sparse   rows of S compacted to their nonzeros (compactRows), then one
//	         row of D per nonzero (sparseRows kernels): the first layer's
//	         forward pass, x·W1ᵀ, where 81% of the pixels are 0.
//	sparseT  the same for T = Cᵀ = op(B)ᵀ·op(A)ᵀ, with op(B)ᵀ packed by
//	         transposition and T transposed into C a strip at a time: the
//	         first layer's weight gradient, dyᵀ·x, whose sparse operand is
//	         the second (plain products only: β = 0, no bias, ReLU, mask).
//	listed   for each column vector-block of D, the rows of D that are not
//	         zero there (nonzeroRows), and tiles over those rows only
//	         (listTile kernels): dyᵀ·x again, skipping x's all-zero
//	         column blocks, for products with an epilogue.
//
// D must be row-major with its rows padded to whole vectors; when op(B) is
// not (B transposed, or N not a multiple of the vector width) it is packed
// first, in phase 0 of the job, by the transpose kernel. C is written in
// place: α, β·C, bias, ReLU and mask are fused into the kernels' stores
// (flagAdd…), so nothing else touches C. The way is chosen by a cost model
// in cycles fed with the densities of two sampled rows of this call's
// operands. It is deliberately a function of the call alone, with no memory
// of earlier calls: the ways round differently (K blocks, fused adds), so
// a choice that depended on history would make a resumed run differ from
// an uninterrupted one. Sampling costs a microsecond or two per large GEMM.
//
// Small products run on the calling goroutine: with vector kernels a GEMM
// of the tutorial's second and third layers takes a microsecond or two,
// the cost of handing it to another thread. Large ones are split into
// chunks of rows (dense, sparse), of strips of T (sparseT) or of column
// blocks (listed) on the pool; a dense product with a small C and a long K
// (a convolution's weight gradient) into parts of K (see splitK).

// Gemm computes g.C as nn.Gemm describes, on the backend's kernel set.
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
	b.prefetchAhead()
	b.runGemm(b.kernels(), e, a, bm, m, n, k, g.TransA, g.TransB)
}

// gemmWay is a way to compute a GEMM.
type gemmWay uint8

const (
	wayDense gemmWay = iota
	waySparse
	waySparseT
	wayListed
)

var gemmWays = []gemmWay{wayDense, waySparse, waySparseT, wayListed}

func (p gemmWay) String() string {
	return [...]string{"dense", "sparse", "sparseT", "listed"}[p]
}

// Pack modes of D (and of S' for sparseT).
const (
	packNone      = iota // D is op(B) itself
	packPad              // rows of op(B) copied into padded rows
	packTranspose        // op(B) = Bᵀ: W columns of D per transpose strip
)

// gemmJob is one GEMM call and the scratch kept between calls.
type gemmJob struct {
	b    *Backend
	ks   *kernelSet
	e    epilogue
	path gemmWay

	m, n, k int
	lanes   int
	s       []float32 // S[i,k] = s[i·rs + k·kst]
	rs, kst int
	d       []float32 // D[k,j] = d[k·dd + j], readable for j < npad
	dd      int
	npad    int // N rounded up to whole vectors
	nvec    int
	bsrc    []float32 // op(B)[k,j] = bsrc[k·bRow + j·bCol]
	bRow    int
	bCol    int
	pack    int

	// sparseT: S' = op(B)ᵀ (packed a strip at a time), D' = op(A)ᵀ = A
	// (K×M, padded to mpad), T = S'·D' (N×M) transposed into C.
	mpad int
	mvec int

	add0 int // flagAdd when β ≠ 0: the first K block adds to C
	epi  int // flagReLU|flagBias|flagMask: applied by the last K block

	kc          int // K block (dense, sparse)
	colNV       int // vectors per column tile
	mr          int // rows per row tile
	rowsChunk   int // rows per chunk (dense, sparse)
	blocksChunk int // column blocks per chunk (listed)
	n0, n1      int // chunks of phase 0 (packing) and phase 1
	parallel    bool
	blockPack   bool // sparse, split K: each chunk packs D a K block at a time

	// The dense way's chunks are row tiles, or parts of K of partK when
	// parts > 0 (see plan), each computing every tile into its partial
	// product, parts × m × npad, that reduceParts sums into C.
	parts   int
	partK   int
	partial []float32

	// The sparse way in K blocks with S = Aᵀ on the bit-mask kernels:
	// byTiles, S transposed into packs in phase 0, K block after K block
	// (each M rows of its length kn, at offset k0·M), and chunks of one
	// column tile over every row.
	byTiles bool
	packs   []float32

	packd []float32 // D packed
	ws    []gemmScratch
}

// The most rows per chunk of the sparse way's bit-mask kernels over whole
// rows, which need no compaction scratch: each column tile of D is used by
// that many rows while it is in L1 (sparseRowsChunk, 8, took 12% longer on
// the cnn's 4096x800x64). A product keeps 8 chunks at least (the mlp's
// 64 rows: 8 of 8).
const sparseMaskRowsChunk = 64

// Column tiles per chunk of the sparse way's byTiles chunks: a K block of
// S serves them while it is in L1 (one a chunk took 15-30% longer).
const sparseTilesChunk = 3

// The dense way's split of K (see plan).
const (
	splitKMinK    = 8192    // the least K split into parts
	splitKPart    = 4096    // about the K of a part
	splitKMaxSize = 64 * 64 // the largest M·N split

	sparseSplitKPart = 2048 // about the K of a part of the sparse way's split (K ≥ twice that)
)

// gemmScratch is a worker's buffers, grown only.
type gemmScratch struct {
	vals  []float32 // compacted rows: rows × stride
	offs  []int32
	cnt   []int32   // nonzeros per compacted row
	list  []int32   // nonzero rows of a column block of D
	row   []float32 // a strided row of S, gathered
	dtail []float32 // a partial column block of D, padded (K × lanes)
	t     []float32 // sparseT: a strip of W rows of T (W × mpad)
	sblk  []float32 // sparseT: a strip of W rows of S' (W × K)
	dblk  []float32 // sparse: a K block of D, packed (kc × npad)
	st    []float32 // sparse, S = Aᵀ in K blocks: the chunk's rows of a block of S (rows × kc)
	_     [64]byte
}

// Tuning. Costs are in cycles of the AVX-512 kernels on the development
// machine (Zen 5; an AVX2 vector does half the work at about the same cost,
// which the counts of vectors account for, and so, roughly, does a vector
// of four floats in pure Go).
const (
	sparseMinWork     = 512 << 10 // M·N·K below which a GEMM is dense, unsampled
	parallelMinCycles = 40000     // estimated cycles worth splitting across threads
	denseKC           = 512       // longest K block of the dense path
	sparseTileBytes   = 32 << 10  // the sparse path's K block of D, when blocked: L1-sized
	sparseWholeBytes  = 1 << 20   // the sparse path's D up to this size: whole, in L2
	sparseRowsChunk   = 8
	listBlocksChunk   = 4
	cyclesPerFMA      = 0.55 // a vector FMA in a register tile
	cyclesPerNZ       = 0.8  // per nonzero of the sparse paths, besides its FMAs
	cyclesSparseL1    = 0.6  // a vector FMA of the sparse paths, D in L1
	cyclesSparseL2    = 1.1  // the same with D in L2 (its bandwidth bounds the kernel)
	l1Bytes           = 48 << 10
	cyclesCompactG    = 1.5  // per element, compacted in Go
	cyclesCompactV    = 1.5  // per vector, compacted by the compress kernel
	cyclesGather      = 1.5  // per element of a strided row of S, gathered
	cyclesTranspose   = 0.25 // per element transposed (packing, sparseT's output)
	cyclesListRow     = 1.5  // per row and vector block of D, listing nonzero rows
	cyclesListStep    = 3.0  // per listed row and row tile, besides its FMAs
	cyclesMaskChunk   = 30   // per row and 64 elements of the bit-mask kernels
)

// runGemm computes the GEMM that Gemm validated, on kernel set ks.
func (b *Backend) runGemm(ks *kernelSet, e epilogue, a, bm []float32, m, n, k int, transA, transB bool) {
	g := &b.gemmJob
	g.prepare(b, ks, e, a, bm, m, n, k, transA, transB, b.pool.workers > 1)
	if g.parallel {
		b.pool.run(g)
	} else {
		runInline(g)
	}
	g.finish()
}

// runAlone runs a prepared GEMM on the calling goroutine alone (from
// within another job's chunk).
func (g *gemmJob) runAlone() {
	runInline(g)
	g.finish()
}

// finish completes the product after its chunks: the sum of its K parts.
func (g *gemmJob) finish() {
	if g.parts > 0 {
		g.reduceParts()
	}
}

// prepare sets g up to compute a GEMM (see runGemm), split across the
// pool's threads when threads allows it and the product is large enough.
func (g *gemmJob) prepare(b *Backend, ks *kernelSet, e epilogue, a, bm []float32, m, n, k int, transA, transB, threads bool) {
	*g = gemmJob{b: b, ks: ks, e: e, m: m, n: n, k: k, lanes: ks.lanes,
		packd: g.packd, ws: g.ws, partial: g.partial, packs: g.packs}
	W := ks.lanes
	g.s, g.rs, g.kst = a, k, 1
	if transA {
		g.rs, g.kst = 1, m
	}
	g.bsrc, g.bRow, g.bCol = bm, n, 1
	if transB {
		g.bRow, g.bCol = 1, k
	}
	g.nvec = (n + W - 1) / W
	g.npad = g.nvec * W

	if e.beta != 0 {
		g.add0 = flagAdd
		if e.beta != 1 {
			for i := 0; i < m; i++ {
				row := e.c[i*e.ldc : i*e.ldc+n]
				for x := range row {
					row[x] *= e.beta
				}
			}
		}
	}
	if e.relu {
		g.epi |= flagReLU
	}
	if e.bias != nil {
		g.epi |= flagBias
	}
	if e.mask != nil {
		g.epi |= flagMask
	}

	var cost float64
	g.path, cost = g.choose(a, bm, transA, transB)
	if f := b.forceWay; f != nil && g.allowed(*f, transA, transB) {
		g.path = *f
	}
	g.parallel = cost >= parallelMinCycles && threads
	g.plan(a, transB)
}

// allowed reports whether way p can compute this product.
func (g *gemmJob) allowed(p gemmWay, transA, transB bool) bool {
	switch p {
	case wayListed:
		return transA && !transB
	case waySparseT:
		return transA && !transB && g.add0 == 0 && g.epi == 0
	}
	return true
}

// choose returns the cheapest way to compute the product and its cost.
func (g *gemmJob) choose(a, bm []float32, transA, transB bool) (gemmWay, float64) {
	M, N, K, nvec := float64(g.m), float64(g.n), float64(g.k), float64(g.nvec)
	W := float64(g.lanes)
	// The constants are AVX-512 cycles; a set whose vector FMA costs more
	// (the pure-Go one) says how much more.
	scale := max(1, g.ks.fmaScale)
	perFMA, sparseL1, sparseL2 := scale*cyclesPerFMA, scale*cyclesSparseL1, scale*cyclesSparseL2
	dense := perFMA * M * K * nvec
	if transB {
		dense += cyclesTranspose * K * N
	}
	if g.m*g.n*g.k < cmp.Or(g.ks.sparseMin, sparseMinWork) {
		return wayDense, dense
	}
	best, cost := wayDense, dense
	compact := cyclesCompactG // per element
	if g.ks.vectorCompact {
		compact = cyclesCompactV / W
	}

	aRows, aCols := g.m, g.k
	if transA {
		aRows, aCols = g.k, g.m
	}
	dA, _ := sampleDensity(a, aRows, aCols, g.lanes)
	perElem := compact
	switch {
	case g.kst != 1:
		perElem += cyclesGather
	case g.ks.maskRows != nil:
		perElem = cyclesMaskChunk / 64
	}
	fma := sparseL2
	if g.k*g.npad*4 <= l1Bytes {
		fma = sparseL1
	}
	sparse := M*K*perElem + dA*M*K*(fma*nvec+cyclesPerNZ)
	if transB {
		sparse += cyclesTranspose * K * N
	}
	if sparse < cost && g.k*g.npad*4 < 1<<31 {
		best, cost = waySparse, sparse
	}

	if transA && !transB {
		dB, pB := sampleDensity(bm, g.k, g.n, g.lanes)
		if g.allowed(waySparseT, transA, transB) {
			mvec := float64((g.m + g.lanes - 1) / g.lanes)
			perElem := compact
			if g.ks.maskRows != nil {
				perElem = cyclesMaskChunk / min(64, K)
			}
			fma := sparseL2
			if g.k*int(mvec)*g.lanes*4 <= l1Bytes {
				fma = sparseL1
			}
			sparseT := 2*cyclesTranspose*K*N + N*K*perElem + dB*N*K*(fma*mvec+cyclesPerNZ)
			if sparseT < cost && g.k*g.m*4 < 1<<31 {
				best, cost = waySparseT, sparseT
			}
		}
		mr := float64(len(g.ks.listTiles) - 1)
		tiles := float64(int((M + mr - 1) / mr))
		listed := cyclesListRow*K*nvec + pB*K*nvec*(perFMA*M+cyclesListStep*tiles)
		if listed < cost {
			best, cost = wayListed, listed
		}
	}
	return best, cost
}

// sampleDensity estimates the fraction of nonzeros of a rows×cols matrix
// and of its lanes-wide column blocks that are not all zero, from two rows
// (the first and the middle one: for a batch of images, two images). It
// costs about a cycle per element sampled, which the sparse ways repay
// many times over on the shapes that reach it (sparseMinWork).
func sampleDensity(x []float32, rows, cols, lanes int) (elems, blocks float64) {
	n, nz, nb, nzb := 0, 0, 0, 0
	for _, r := range [2]int{0, rows / 2} {
		row := x[r*cols : (r+1)*cols]
		for j := 0; j < cols; j += lanes {
			var any uint32
			for _, v := range row[j:min(j+lanes, cols)] {
				b := magnitude(v)
				nz += isNonzero(b)
				any |= b
			}
			nzb += isNonzero(any)
			nb++
		}
		n += cols
		if rows < 2 {
			break
		}
	}
	if n == 0 {
		return 1, 1
	}
	return float64(nz) / float64(n), float64(nzb) / float64(nb)
}

// plan sets the packing, the blocking and the chunks, and sizes the scratch.
func (g *gemmJob) plan(a []float32, transB bool) {
	ks, W := g.ks, g.lanes
	g.d, g.dd = g.bsrc, g.n
	g.pack = packNone
	switch g.path {
	case wayDense:
		switch {
		case transB:
			g.pack = packTranspose
			g.n0 = g.nvec
		case g.n%W != 0:
			g.pack = packPad
			g.n0 = chunkCount(g.k, 64)
		}
		if g.pack == packNone {
			break
		}
		if g.splitK() {
			// Each part packs D a K block at a time into its worker's
			// scratch, where it stays while the tiles use it, rather
			// than all of D in phase 0.
			g.blockPack, g.n0 = true, 0
			g.d, g.dd = nil, g.npad
			break
		}
		g.packd = grow(g.packd, g.k*g.npad)
		g.d, g.dd = g.packd, g.npad
	case waySparse:
		// D is packed whole in phase 0 when it is small enough to stay in
		// L2; a larger one is packed a K block at a time by each chunk into
		// its worker's scratch (sparseRows), where it stays in L1 while the
		// chunk's rows use it.
		switch {
		case transB:
			g.pack = packTranspose
		case g.n%W != 0:
			g.pack = packPad
		}
		if g.pack != packNone && g.k*g.npad*4 <= sparseWholeBytes {
			g.packd = grow(g.packd, g.k*g.npad)
			g.n0 = g.nvec
			if g.pack == packPad {
				g.n0 = chunkCount(g.k, 64)
			}
		}
	case waySparseT:
		// S' = Bᵀ, a strip of W rows at a time (sparseTStrip); D' = A
		// (K×M), padded when M is not whole vectors.
		g.mvec = (g.m + W - 1) / W
		g.mpad = g.mvec * W
		g.d, g.dd = a, g.m
		if g.m%W != 0 {
			g.packd = grow(g.packd, g.k*g.mpad)
			for kk := 0; kk < g.k; kk++ {
				dst := g.packd[kk*g.mpad : (kk+1)*g.mpad]
				clear(dst[copy(dst, a[kk*g.m:(kk+1)*g.m]):])
			}
			g.d, g.dd = g.packd, g.mpad
		}
		g.colNV = min(len(ks.sparseRows)-1, g.mvec)
	}

	workers := g.b.pool.workers
	switch g.path {
	case wayDense:
		blocks := (g.k + denseKC - 1) / denseKC
		g.kc = (g.k + blocks - 1) / blocks
		g.colNV = min(ks.maxNV(), g.nvec)
		g.mr = len(ks.tiles[g.colNV]) - 1
		g.rowsChunk = g.mr
		g.n1 = chunkCount(g.m, g.rowsChunk)
		if g.splitK() {
			g.parts = chunkCount(blocks, chunkCount(splitKPart, g.kc))
			g.partK = g.kc * chunkCount(blocks, g.parts)
			g.parts = chunkCount(g.k, g.partK)
			g.partial = grow(g.partial, g.parts*g.m*g.npad)
			g.n1 = g.parts
		}
	case waySparse:
		// K blocks whose rows of D (all npad columns) stay in L1 while the
		// chunk's rows use them: each nonzero reads a row of the block.
		// One chunk per thread, so that each packs every block once.
		g.colNV = min(len(ks.sparseRows)-1, g.nvec)
		if g.k*g.npad*4 <= sparseWholeBytes {
			// Each row compacted once, its nonzeros reading D from L2: a
			// call per row costs more than L1 would save.
			g.kc = g.k
			if g.pack != packNone {
				g.d, g.dd = g.packd, g.npad
			}
			g.rowsChunk = min(sparseRowsChunk, g.m)
			if g.kst == 1 && ks.maskRows != nil {
				g.rowsChunk = min(sparseMaskRowsChunk, max(sparseRowsChunk, g.m/8))
			}
			g.n1 = chunkCount(g.m, g.rowsChunk)
			break
		}
		// The kernels take one column tile at a time over the chunk's
		// rows: its share of the block, colNV vectors a row, is what L1
		// holds (a K block of all npad columns would be a few rows when
		// N is wide, a conv layer's weight gradient: a few nonzeros per
		// kernel call).
		blocks := max(1, (g.k*g.colNV*W*4+sparseTileBytes-1)/sparseTileBytes)
		g.kc = (g.k + blocks - 1) / blocks
		g.blockPack = g.pack != packNone
		g.n1 = 1
		if g.parallel {
			g.n1 = min(workers, g.m)
		}
		g.rowsChunk = chunkCount(g.m, g.n1)
		if g.add0 == 0 && g.epi == 0 && g.kst != 1 && g.k >= 2*sparseSplitKPart {
			// A plain product with S = Aᵀ over a long K (a conv layer's
			// weight gradient): parts of K, every row each, summed by
			// reduceParts. The parts share the work evenly whatever the
			// rows' zeros, each reads its share of D once, and they
			// depend on the shape alone, not on the threads.
			blocks := chunkCount(g.k, g.kc)
			g.parts = chunkCount(blocks, chunkCount(sparseSplitKPart, g.kc))
			g.partK = g.kc * chunkCount(blocks, g.parts)
			g.parts = chunkCount(g.k, g.partK)
			g.partial = grow(g.partial, g.parts*g.m*g.npad)
			g.n1, g.rowsChunk = g.parts, g.m
		} else if g.parallel && g.kst != 1 && ks.maskRows != nil && !g.blockPack {
			// Threads: S = Aᵀ transposed whole in phase 0, then chunks
			// of column tiles over every row (the bit-mask kernels
			// compact nothing a chunk would repeat): each chunk reads
			// its columns of D once, and chunks share the work evenly
			// where row chunks would not (a conv layer's output
			// channels differ in their zeros: conv2's weight gradient
			// 64x800x4096 took 1.73 ms on two threads in row chunks,
			// 1.30-1.52 so). One thread keeps the row chunk, which
			// transposes a block while it uses it (1.9 against 2.2 ms).
			// The bits are the same either way.
			g.byTiles = true
			g.packs = grow(g.packs, g.m*g.k)
			g.n0 = chunkCount(g.k, g.kc)
			g.n1 = chunkCount(chunkCount(g.nvec, g.colNV), sparseTilesChunk)
		}
	case waySparseT:
		g.kc = g.k
		g.rowsChunk = W
		g.n1 = chunkCount(g.n, W)
	case wayListed:
		g.mr = len(ks.listTiles) - 1
		g.blocksChunk = listBlocksChunk
		g.n1 = chunkCount(g.nvec, g.blocksChunk)
	}

	if len(g.ws) < workers {
		g.ws = make([]gemmScratch, workers)
	}
	for w := range g.ws {
		ws := &g.ws[w]
		switch g.path {
		case waySparse, waySparseT:
			stride, rows := g.kc+16, max(sparseRowsChunk, W) // sparseT: a strip of W
			ws.vals = grow(ws.vals, rows*stride)
			ws.offs = grow(ws.offs, rows*stride)
			ws.cnt = grow(ws.cnt, rows)
			if g.path == waySparse {
				if g.kst != 1 {
					ws.row = grow(ws.row, g.kc)
					if g.kc < g.k {
						ws.st = grow(ws.st, g.rowsChunk*g.kc)
					}
				}
				if g.blockPack {
					ws.dblk = grow(ws.dblk, g.kc*g.npad)
				}
			} else {
				ws.t = grow(ws.t, W*g.mpad)
				ws.sblk = grow(ws.sblk, W*g.k)
			}
		case wayDense:
			if g.blockPack {
				ws.dblk = grow(ws.dblk, g.kc*g.npad)
			}
		case wayListed:
			ws.list = grow(ws.list, g.k)
			if g.n%W != 0 {
				ws.dtail = grow(ws.dtail, g.k*W)
			}
		}
	}
}

// splitK reports whether the dense way splits K into parts: a plain
// product (β = 0, no bias, ReLU or mask) with a small C, too few tiles to
// share between threads, each over a long K, such as a convolution's
// weight and bias gradients. Each part computes every tile over its share of K into
// its own partial product (densePart), reading its share of the operands
// once, and reduceParts sums the parts in order. The parts depend on the
// shape alone, not on the threads, so that the sums do too; they are not
// bitwise those of one pass over K.
func (g *gemmJob) splitK() bool {
	return g.add0 == 0 && g.epi == 0 && g.k >= splitKMinK && g.m*g.n <= splitKMaxSize
}

func (g *gemmJob) chunks() (int, int) { return g.n0, g.n1 }

func (g *gemmJob) do(w, phase, c int) {
	if phase == 0 {
		g.packChunk(c)
		return
	}
	switch g.path {
	case wayDense:
		if g.parts > 0 {
			lo, hi := chunkRange(c, g.k, g.partK)
			g.densePart(&g.ws[w], c, lo, hi)
			break
		}
		lo, hi := chunkRange(c, g.m, g.rowsChunk)
		g.denseRows(lo, hi)
	case waySparse:
		if g.parts > 0 {
			lo, hi := chunkRange(c, g.k, g.partK)
			g.sparseRowsK(&g.ws[w], 0, g.m, lo, hi, c)
			break
		}
		if g.byTiles {
			lo, hi := chunkRange(c, chunkCount(g.nvec, g.colNV), sparseTilesChunk)
			g.sparseTiles(lo*g.colNV, min(hi*g.colNV, g.nvec))
			break
		}
		lo, hi := chunkRange(c, g.m, g.rowsChunk)
		g.sparseRows(&g.ws[w], lo, hi)
	case waySparseT:
		lo, hi := chunkRange(c, g.n, g.rowsChunk)
		g.sparseTStrip(&g.ws[w], lo, hi)
	case wayListed:
		lo, hi := chunkRange(c, g.nvec, g.blocksChunk)
		g.listedBlocks(&g.ws[w], lo, hi)
	}
}

// transposeBlock writes dst[c·ldd + r] = src[r·lds + c] for r < rows and
// c < cols, with the transpose kernel for whole W×W blocks and Go for the
// edges; zero-pads dst's rows up to padRows (r in [rows, padRows)).
func (g *gemmJob) transposeBlock(dst []float32, ldd int, src []float32, lds, rows, cols, padRows int) {
	W := g.lanes
	done := 0
	if rows == W && cols >= W {
		nb := cols / W
		g.ks.transpose(&src[0], lds, &dst[0], ldd, nb)
		done = nb * W
	}
	for c := done; c < cols; c++ {
		d := dst[c*ldd : c*ldd+padRows]
		for r := range d {
			if r < rows {
				d[r] = src[r*lds+c]
			} else {
				d[r] = 0
			}
		}
	}
	if rows < padRows {
		for c := 0; c < done; c++ {
			clear(dst[c*ldd+rows : c*ldd+padRows])
		}
	}
}

// packChunk writes part c of the padded D into packd: a strip of W columns
// (transposing B, stored N×K) or 64 rows (padding op(B)).
func (g *gemmJob) packChunk(c int) {
	W := g.lanes
	if g.byTiles {
		// K block c of S, the rows of A in it, W at a time: its rows
		// side by side, not K apart (which would put them all in the
		// same sets of L1).
		k0, k1 := chunkRange(c, g.k, g.kc)
		kn, blk := k1-k0, g.packs[k0*g.m:k1*g.m]
		for kk := 0; kk < kn; kk += W {
			w := min(W, kn-kk)
			g.transposeBlock(blk[kk:], kn, g.s[(k0+kk)*g.kst:], g.kst, w, g.m, w)
		}
		return
	}
	if g.pack == packPad {
		lo, hi := chunkRange(c, g.k, 64)
		g.packRows(g.packd[lo*g.npad:], lo, hi)
		return
	}
	j0 := c * W
	g.transposeBlock(g.packd[j0:], g.npad, g.bsrc[j0*g.bCol:], g.bCol, min(W, g.n-j0), g.k, W)
}

// packRows writes rows [k0, k1) of the padded D to dst (row stride npad).
func (g *gemmJob) packRows(dst []float32, k0, k1 int) {
	W, n, npad := g.lanes, g.n, g.npad
	if g.pack == packPad {
		for kk := k0; kk < k1; kk++ {
			row := dst[(kk-k0)*npad : (kk-k0+1)*npad]
			clear(row[copy(row, g.bsrc[kk*n:(kk+1)*n]):])
		}
		return
	}
	for j0 := 0; j0 < n; j0 += W {
		g.transposeBlock(dst[j0:], npad, g.bsrc[j0*g.bCol+k0:], g.bCol, min(W, n-j0), k1-k0, W)
	}
}

// flags returns the epilogue flags of the K block [k0, k0+kn).
func (g *gemmJob) flags(k0, kn int) int {
	f := flagAdd
	if k0 == 0 {
		f = g.add0
	}
	if k0+kn == g.k {
		f |= g.epi
	}
	return f
}

// column returns the tail (valid lanes of the last vector) and bias of the
// column tile of nv vectors from vector v0, for epilogue flags f.
func (g *gemmJob) column(v0, nv, f int) (j0, tail int, bias *float32) {
	j0 = v0 * g.lanes
	tail = min(g.lanes, g.n-(j0+(nv-1)*g.lanes))
	if f&flagBias != 0 {
		bias = &g.e.bias[j0]
	}
	return
}

// maskAt returns &mask[i, j0], or nil without a mask.
func (g *gemmJob) maskAt(f, i, j0 int) *float32 {
	if f&flagMask == 0 {
		return nil
	}
	return &g.e.mask[i*g.e.ldc+j0]
}

// denseRows computes rows [r0, r1) of C with register tiles.
func (g *gemmJob) denseRows(r0, r1 int) {
	e := &g.e
	for k0 := 0; k0 < g.k; k0 += g.kc {
		kn := min(g.kc, g.k-k0)
		f := g.flags(k0, kn)
		for v0 := 0; v0 < g.nvec; v0 += g.colNV {
			nv := min(g.colNV, g.nvec-v0)
			j0, tail, bias := g.column(v0, nv, f)
			d := &g.d[k0*g.dd+j0]
			tiles := g.ks.tiles[nv]
			for i := r0; i < r1; i += g.mr {
				rows := min(g.mr, r1-i)
				tiles[rows](&g.s[i*g.rs+k0*g.kst], g.rs, g.kst, d, g.dd, kn,
					&e.c[i*e.ldc+j0], e.ldc, e.alpha, f, tail, bias, g.maskAt(f, i, j0))
			}
		}
	}
}

// densePart computes part p of a product split along K, the K range
// [k0, k1), into its partial product: every tile, a K block at a time
// (packed into the worker's scratch first when D needs packing).
func (g *gemmJob) densePart(ws *gemmScratch, p, k0, k1 int) {
	e, ld := &g.e, g.npad
	out := g.partial[p*g.m*ld : (p+1)*g.m*ld]
	for kb := k0; kb < k1; kb += g.kc {
		kn := min(g.kc, k1-kb)
		f := flagAdd
		if kb == k0 {
			f = 0
		}
		var d []float32
		dd := g.dd
		switch {
		case g.pack == packPad && (kb+kn-1)*g.n+g.npad <= len(g.bsrc):
			// B's rows read in place, unpadded: a row's last vector
			// reads the next row's first columns into lanes of the tile
			// that are never stored (the kernels store N columns).
			d, dd = g.bsrc[kb*g.n:], g.n
		case g.blockPack:
			g.packRows(ws.dblk, kb, kb+kn)
			d = ws.dblk
		default:
			d = g.d[kb*g.dd:]
		}
		for v0 := 0; v0 < g.nvec; v0 += g.colNV {
			nv := min(g.colNV, g.nvec-v0)
			j0, tail, _ := g.column(v0, nv, f)
			tiles := g.ks.tiles[nv]
			for i := 0; i < g.m; i += g.mr {
				rows := min(g.mr, g.m-i)
				tiles[rows](&g.s[i*g.rs+kb*g.kst], g.rs, g.kst, &d[j0], dd, kn,
					&out[i*ld+j0], ld, e.alpha, f, tail, nil, nil)
			}
		}
	}
}

// reduceParts sets C to the sum of the partial products of a product
// split along K, part after part.
func (g *gemmJob) reduceParts() {
	e, ld, size := &g.e, g.npad, g.m*g.npad
	for i := 0; i < g.m; i++ {
		c := e.c[i*e.ldc : i*e.ldc+g.n]
		copy(c, g.partial[i*ld:i*ld+g.n])
		for p := 1; p < g.parts; p++ {
			src := g.partial[p*size+i*ld : p*size+i*ld+g.n]
			for j, v := range src {
				c[j] += v
			}
		}
	}
}

// sparseRows computes rows [r0, r1) of C from their nonzeros, a K block
// at a time: the block of D (packed here when op(B) is not row-major and
// padded), then groups of rows compacted and multiplied while it is in L1.
func (g *gemmJob) sparseRows(ws *gemmScratch, r0, r1 int) {
	g.sparseRowsK(ws, r0, r1, 0, g.k, -1)
}

// sparseRowsK is sparseRows over the K range [kLo, kHi): into C, or when
// p ≥ 0 into partial product p of a product split along K (plain: the
// first block stores, the others add, no epilogue).
func (g *gemmJob) sparseRowsK(ws *gemmScratch, r0, r1, kLo, kHi, p int) {
	e := &g.e
	c, ldc := e.c, e.ldc
	if p >= 0 {
		c, ldc = g.partial[p*g.m*g.npad:(p+1)*g.m*g.npad], g.npad
	}
	stride := g.kc + 16
	for k0 := kLo; k0 < kHi; k0 += g.kc {
		kn := min(g.kc, kHi-k0)
		f := g.flags(k0, kn)
		if p >= 0 {
			f = flagAdd
			if k0 == kLo {
				f = 0
			}
		}
		d, dd := g.d[k0*g.dd:], g.dd
		if g.blockPack {
			g.packRows(ws.dblk, k0, k0+kn)
			d, dd = ws.dblk, g.npad
		}
		// The chunk's rows of S in this block, row after row: in place
		// when S = A, transposed into the worker's scratch when S = Aᵀ is
		// in K blocks (whole rows are gathered one at a time below).
		var s []float32
		rs := g.rs
		switch {
		case g.kst == 1:
			s = g.s[r0*g.rs+k0:]
		case g.kc < g.k:
			W := g.lanes
			for kk := 0; kk < kn; kk += W {
				w := min(W, kn-kk)
				g.transposeBlock(ws.st[kk:], kn, g.s[(k0+kk)*g.kst+r0:], g.kst, w, r1-r0, w)
			}
			s, rs = ws.st, kn
		}
		if s != nil && g.ks.maskRows != nil {
			// Rows found nonzero 64 elements at a time by bit masks: no
			// compaction pass (with AVX-512; see sparseMaskRows).
			for v0 := 0; v0 < g.nvec; v0 += g.colNV {
				nv := min(g.colNV, g.nvec-v0)
				j0, tail, bias := g.column(v0, nv, f)
				g.ks.maskRows[nv](&s[0], rs, kn, r1-r0, &d[j0], dd,
					&c[r0*ldc+j0], ldc, e.alpha, f, tail, bias, g.maskAt(f, r0, j0))
			}
			continue
		}
		for i0 := r0; i0 < r1; i0 += sparseRowsChunk {
			rows := min(sparseRowsChunk, r1-i0)
			if s != nil {
				g.ks.compactRows(&s[(i0-r0)*rs], rs, kn, rows, &ws.vals[0], &ws.offs[0], &ws.cnt[0], stride, 4*dd)
			} else {
				for i := i0; i < i0+rows; i++ {
					row := gatherRow(ws.row, g.s[i*g.rs+k0*g.kst:], kn, g.kst)
					x := (i - i0) * stride
					g.ks.compactRows(&row[0], 0, kn, 1, &ws.vals[x], &ws.offs[x], &ws.cnt[i-i0], stride, 4*dd)
				}
			}
			for v0 := 0; v0 < g.nvec; v0 += g.colNV {
				nv := min(g.colNV, g.nvec-v0)
				j0, tail, bias := g.column(v0, nv, f)
				g.ks.sparseRows[nv](&ws.vals[0], &ws.offs[0], &ws.cnt[0], stride, rows, &d[j0],
					&c[i0*ldc+j0], ldc, e.alpha, f, tail, bias, g.maskAt(f, i0, j0))
			}
		}
	}
}

// sparseTiles computes the column vectors [v0, v1) of C, every row, a K
// block at a time, from S transposed whole into packs (byTiles): the
// bit-mask kernels over the rows of packs, as sparseRows runs them over a
// block transposed into scratch (the same bits).
func (g *gemmJob) sparseTiles(v0, v1 int) {
	e := &g.e
	for k0 := 0; k0 < g.k; k0 += g.kc {
		kn := min(g.kc, g.k-k0)
		f := g.flags(k0, kn)
		for v := v0; v < v1; v += g.colNV {
			nv := min(g.colNV, v1-v)
			j0, tail, bias := g.column(v, nv, f)
			g.ks.maskRows[nv](&g.packs[k0*g.m], kn, kn, g.m, &g.d[k0*g.dd+j0], g.dd,
				&e.c[j0], e.ldc, e.alpha, f, tail, bias, g.maskAt(f, 0, j0))
		}
	}
}

// sparseTStrip computes rows [j0, j1) of T = S'·D' (columns j0… of C):
// transposes those columns of B into rows of S', compacts them, runs the
// sparse kernels into a strip of T, and transposes the strip into C.
func (g *gemmJob) sparseTStrip(ws *gemmScratch, j0, j1 int) {
	e := &g.e
	W := g.lanes
	stride := g.kc + 16
	rows := j1 - j0
	switch {
	case g.ks.compactCols != nil && rows == W:
		// The strip's W columns of B compacted where they are, as rows
		// of S' (no transposition).
		g.ks.compactCols(&g.bsrc[j0], g.n, g.k, &ws.vals[0], &ws.offs[0], &ws.cnt[0], stride, 4*g.dd)
	default:
		// S'[r, k] = B[k, j0+r] (B stored K×N), W rows of B at a time.
		for k0 := 0; k0 < g.k; k0 += W {
			g.transposeBlock(ws.sblk[k0:], g.k, g.bsrc[k0*g.n+j0:], g.n, min(W, g.k-k0), rows, min(W, g.k-k0))
		}
		if g.ks.maskRows == nil {
			g.ks.compactRows(&ws.sblk[0], g.k, g.k, rows, &ws.vals[0], &ws.offs[0], &ws.cnt[0], stride, 4*g.dd)
		}
	}
	if g.ks.maskRows != nil {
		// Rows of a batch's length: find their nonzeros by bit masks.
		for v0 := 0; v0 < g.mvec; v0 += g.colNV {
			nv := min(g.colNV, g.mvec-v0)
			g.ks.maskRows[nv](&ws.sblk[0], g.k, g.k, rows, &g.d[v0*W], g.dd, &ws.t[v0*W], g.mpad, e.alpha, 0, W, nil, nil)
		}
	} else {
		for v0 := 0; v0 < g.mvec; v0 += g.colNV {
			nv := min(g.colNV, g.mvec-v0)
			g.ks.sparseRows[nv](&ws.vals[0], &ws.offs[0], &ws.cnt[0], stride, rows, &g.d[v0*W],
				&ws.t[v0*W], g.mpad, e.alpha, 0, W, nil, nil)
		}
	}
	// C[i, j0+r] = T[j0+r, i]: the strip's rows become columns of C.
	if rows == W && g.m >= W {
		nb := g.m / W
		g.ks.transpose(&ws.t[0], g.mpad, &e.c[j0], e.ldc, nb)
		for i := nb * W; i < g.m; i++ {
			for r := 0; r < rows; r++ {
				e.c[i*e.ldc+j0+r] = ws.t[r*g.mpad+i]
			}
		}
		return
	}
	for i := 0; i < g.m; i++ {
		for r := 0; r < rows; r++ {
			e.c[i*e.ldc+j0+r] = ws.t[r*g.mpad+i]
		}
	}
}

// listedBlocks computes column vector-blocks [v0, v1) of C over the rows of
// D that are not zero in each.
func (g *gemmJob) listedBlocks(ws *gemmScratch, v0, v1 int) {
	e, W := &g.e, g.lanes
	f := g.flags(0, g.k)
	for v := v0; v < v1; v++ {
		j0, tail, bias := g.column(v, 1, f)
		d, dd := &g.d[j0], g.dd
		if tail < W {
			// The last block of a D whose rows are not whole vectors: copy
			// it, padded, so that the kernels read whole vectors.
			for kk := 0; kk < g.k; kk++ {
				dst := ws.dtail[kk*W : (kk+1)*W]
				clear(dst[copy(dst, g.d[kk*g.dd+j0:kk*g.dd+g.n]):])
			}
			d, dd = &ws.dtail[0], W
		}
		cnt := g.ks.nonzeroRows(d, dd, g.k, &ws.list[0])
		for i := 0; i < g.m; i += g.mr {
			rows := min(g.mr, g.m-i)
			g.ks.listTiles[rows](&g.s[i], g.kst, d, dd, &ws.list[0], cnt,
				&e.c[i*e.ldc+j0], e.ldc, e.alpha, f, tail, bias, g.maskAt(f, i, j0))
		}
	}
}

// grow returns s with length n, reallocating only when its capacity is short.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
