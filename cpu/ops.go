package cpu

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// mapKind is an elementwise op that mapJob runs.
type mapKind uint8

const (
	mapReLU mapKind = iota
	mapReLUBackward
)

// mapJob runs an elementwise op over the n elements of x, split in chunks.
type mapJob struct {
	kind mapKind
	x, y []float32 // y: ReLU's output (ReLUBackward)
}

func (j *mapJob) chunks() (int, int) { return chunkCount(len(j.x), elemsPerChunk), 0 }

func (j *mapJob) do(w, phase, c int) {
	switch j.kind {
	case mapReLU:
		lo, hi := chunkRange(c, len(j.x), elemsPerChunk)
		reluInPlace(j.x[lo:hi])
	case mapReLUBackward:
		lo, hi := chunkRange(c, len(j.x), elemsPerChunk)
		g, out := j.x[lo:hi], j.y[lo:hi]
		out = out[:len(g)]
		for i, o := range out {
			gb := math.Float32bits(g[i])
			if o <= 0 { // without a branch: the signs are as random as the data
				gb = 0
			}
			g[i] = math.Float32frombits(gb)
		}
	}
}

// ReLU sets x[i] = max(x[i], 0) for i < n (NaN stays NaN).
func (b *Backend) ReLU(x nn.Buffer, n int) {
	xs, ok := b.core.ReLUArgs(x, n)
	if !ok {
		return
	}
	b.mapJob = mapJob{kind: mapReLU, x: xs}
	b.runJob(&b.mapJob, n)
}

// ReLUBackward sets grad[i] = 0 where out[i] <= 0, for i < n.
func (b *Backend) ReLUBackward(grad, out nn.Buffer, n int) {
	gs, os, ok := b.core.ReLUBackwardArgs(grad, out, n)
	if !ok {
		return
	}
	b.mapJob = mapJob{kind: mapReLUBackward, x: gs, y: os}
	b.runJob(&b.mapJob, n)
}

// colSumsJob sums the rows of src (rows×cols) into dst, split by columns.
type colSumsJob struct {
	dst, src   []float32
	rows, cols int
}

func (j *colSumsJob) chunks() (int, int) { return chunkCount(j.cols, colsPerChunk), 0 }

func (j *colSumsJob) do(w, phase, c int) {
	lo, hi := chunkRange(c, j.cols, colsPerChunk)
	dst := j.dst[lo:hi]
	clear(dst)
	for r := 0; r < j.rows; r++ {
		src := j.src[r*j.cols+lo : r*j.cols+hi]
		for c, v := range src {
			dst[c] += v
		}
	}
}

// ColumnSums sets dst[c] = Σ_r src[r,c] for src (rows×cols): the bias gradient.
func (b *Backend) ColumnSums(dst, src nn.Buffer, rows, cols int) {
	ds, ss, ok := b.core.ColumnSumsArgs(dst, src, rows, cols)
	if !ok {
		return
	}
	if ks := b.kernels(); ks.simd() {
		b.prefetchAhead()
		ks.sumRowsAll(ds, ss, rows, cols)
		return
	}
	b.colsums = colSumsJob{dst: ds, src: ss, rows: rows, cols: cols}
	work := rows * cols
	if cols < 32 {
		work = 0 // too few columns to split
	}
	b.runJob(&b.colsums, work)
}

// Argmax sets dst[r] to the index of the largest of src[r,:], the first on ties.
func (b *Backend) Argmax(dst, src nn.Buffer, rows, cols int) {
	ds, ss, ok := b.core.ArgmaxArgs(dst, src, rows, cols)
	if !ok {
		return
	}
	for r := range ds {
		row := ss[r*cols : (r+1)*cols]
		best, bv := 0, row[0]
		for c, v := range row {
			if v > bv {
				best, bv = c, v
			}
		}
		ds[r] = int32(best)
	}
}

// SoftmaxCrossEntropy writes the mean over rows of -log softmax(logits[r])[labels[r]]
// into loss[0] and, when grad is not nil, (softmax(logits[r]) - onehot(labels[r]))/rows
// into grad. Each row is max-subtracted; exponentials and sums are float64.
func (b *Backend) SoftmaxCrossEntropy(loss, grad, logits, labels nn.Buffer, rows, cols int) {
	ls, gs, xs, ys, ok := b.core.SoftmaxArgs(loss, grad, logits, labels, rows, cols)
	if !ok {
		return
	}
	b.prefetchAhead()
	b.softmaxXent(ls, gs, xs, ys, rows, cols)
}

// softmaxXent is SoftmaxCrossEntropy on checked slices (gs may be nil).
func (b *Backend) softmaxXent(ls, gs, xs []float32, ys []int32, rows, cols int) {
	b.exps = grow(b.exps, softmaxScratch(cols))
	inv := 1 / float64(max(rows, 1))
	ls[0] = float32(softmaxRows(b.kernels(), b.exps, gs, xs, ys, 0, rows, cols, inv) * inv)
}

// softmaxBlock is how many rows softmaxRows takes the exponentials of at
// once.
const softmaxBlock = 16

// softmaxScratch is the float64 scratch softmaxRows needs for rows of cols.
func softmaxScratch(cols int) int { return 2 * softmaxBlock * cols }

// softmaxRows computes rows [r0, r1) of SoftmaxCrossEntropy with e as
// scratch (softmaxScratch(cols) elements): their gradient (unless gs is
// nil), each divided by the batch's rows (inv = 1/rows), and returns the
// sum of their losses. The exponentials of a block of rows are taken
// together (by the kernel set's expReduced where it has one), each row's
// sum then in column order: the bits do not depend on the kernel set.
func softmaxRows(ks *kernelSet, e []float64, gs, xs []float32, ys []int32, r0, r1, cols int, inv float64) float64 {
	// The loss is Σ_r (m_r + log(sum_r) − x[r, y_r]): the logarithms of the
	// sums are taken of their running product, a logarithm per hundred
	// rows or so instead of one per row (each sum is in [1, cols], so the
	// product grows from 1 and is folded into logs before it could
	// overflow; a NaN propagates as before).
	var total, logs float64
	prod := 1.0
	for b0 := r0; b0 < r1; b0 += softmaxBlock {
		b1 := min(b0+softmaxBlock, r1)
		n := (b1 - b0) * cols
		d, ex := e[:n], e[n:2*n]
		// d: each row's logits less their maximum, in float64.
		for r := b0; r < b1; r++ {
			x := xs[r*cols : (r+1)*cols]
			m := x[0]
			for _, v := range x {
				m = max(m, v)
			}
			dr := d[(r-b0)*cols : (r-b0+1)*cols]
			for c, v := range x {
				dr[c] = float64(v - m)
			}
			y := int(ys[r])
			total += float64(m) - float64(x[y])
		}
		ks.expNonPositiveAll(ex, d)
		for r := b0; r < b1; r++ {
			er := ex[(r-b0)*cols : (r-b0+1)*cols]
			var sum float64
			for _, v := range er {
				sum += v
			}
			if prod *= sum; prod > 1e200 {
				logs += math.Log(prod)
				prod = 1
			}
			if gs != nil {
				y := int(ys[r])
				g := gs[r*cols : (r+1)*cols]
				scale := inv / sum
				for c := range g {
					g[c] = float32(er[c] * scale)
				}
				g[y] = float32(er[y]*scale - inv)
			}
		}
	}
	return total + logs + math.Log(prod)
}

// expNonPositiveAll sets dst[i] = expNonPositive(src[i]) for every i: by
// the kernel set's expReduced for whole vectors where it has one (then
// math.Exp for the lanes it leaves), in Go for the rest.
func (ks *kernelSet) expNonPositiveAll(dst, src []float64) {
	dst = dst[:len(src)]
	i := 0
	if ks != nil && ks.expReduced != nil && len(src) >= 8 {
		i = len(src) / 8 * 8
		if ks.expReduced(&dst[0], &src[0], i) > 0 {
			for j, v := range src[:i] {
				if !(v > -708 && v <= 0) {
					dst[j] = math.Exp(v)
				}
			}
		}
	}
	for ; i < len(src); i++ {
		dst[i] = expNonPositive(src[i])
	}
}

// expNonPositive is e^x for x ≤ 0 or NaN (and above 0 too, by math.Exp):
// softmaxRows's exponentials, one at a time.
func expNonPositive(x float64) float64 {
	if !(x > -708 && x <= 0) {
		return math.Exp(x)
	}
	return expReduced(x)
}

// expReduced returns e^x for −708 < x ≤ 0 to within 1e-9 relative error,
// far below the float32 rounding of the softmax's results: x = n·ln 2 + r
// with |r| ≤ ln 2/2, e^r by its Taylor polynomial of degree 8 evaluated in
// Estrin's scheme (short dependency chains), times 2^n built from its bits.
// It is small enough to be inlined, and about half the cost of math.Exp.
func expReduced(x float64) float64 {
	const (
		log2e = 1.4426950408889634
		ln2hi = 6.93147180369123816490e-01 // ln 2 = ln2hi + ln2lo, ln2hi·n exact
		ln2lo = 1.90821492927058770002e-10
		round = 0x1.8p52 // adding and subtracting it rounds to an integer
	)
	n := (x*log2e + round) - round
	r := x - n*ln2hi - n*ln2lo
	r2 := r * r
	b0 := (1 + r) + r2*(1./2+r*(1./6))
	b1 := (1./24 + r*(1./120)) + r2*(1./720+r*(1./5040))
	p := b0 + r2*r2*(b1+r2*r2*(1./40320))
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}
