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
	if cap(b.exps) < cols {
		b.exps = make([]float64, cols)
	}
	inv := 1 / float64(max(rows, 1))
	ls[0] = float32(softmaxRows(b.exps[:cols], gs, xs, ys, 0, rows, cols, inv) * inv)
}

// softmaxRows computes rows [r0, r1) of SoftmaxCrossEntropy with e as
// scratch (cols elements): their gradient (unless gs is nil), each divided
// by the batch's rows (inv = 1/rows), and returns the sum of their losses.
func softmaxRows(e []float64, gs, xs []float32, ys []int32, r0, r1, cols int, inv float64) float64 {
	// The loss is Σ_r (m_r + log(sum_r) − x[r, y_r]): the logarithms of the
	// sums are taken of their running product, a logarithm per hundred
	// rows or so instead of one per row (each sum is in [1, cols], so the
	// product grows from 1 and is folded into logs before it could
	// overflow; a NaN propagates as before).
	var total, logs float64
	prod := 1.0
	for r := r0; r < r1; r++ {
		x := xs[r*cols : (r+1)*cols]
		m := x[0]
		for _, v := range x {
			m = max(m, v)
		}
		sum := expShifted(e, x, m)
		y := int(ys[r])
		total += float64(m) - float64(x[y])
		if prod *= sum; prod > 1e200 {
			logs += math.Log(prod)
			prod = 1
		}
		if gs != nil {
			g := gs[r*cols : (r+1)*cols]
			scale := inv / sum
			for c := range g {
				g[c] = float32(e[c] * scale)
			}
			g[y] = float32(e[y]*scale - inv)
		}
	}
	return total + logs + math.Log(prod)
}

// expShifted sets e[c] = exp(x[c] − m) in float64 for the max-subtracted
// logits of a row and returns their sum. Its loop has no dependency from
// one element to the next but the sum, so that the processor overlaps the
// exponentials (a training step computes 640 of them).
func expShifted(e []float64, x []float32, m float32) (sum float64) {
	e = e[:len(x)]
	for c, v := range x {
		d := float64(v - m)
		var y float64
		if d > -708 && d <= 0 {
			y = expReduced(d)
		} else {
			y = math.Exp(d) // NaN, or an underflow to subnormals
		}
		e[c] = y
		sum += y
	}
	return sum
}

// expNonPositive is e^x for x ≤ 0 or NaN, as expShifted computes it.
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
