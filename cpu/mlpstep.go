package cpu

import (
	"errors"
	"fmt"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/host"
)

// The fused MLP training step (nn.MLPStepper; WithFusedMLP turns it off).
// It computes what the op
// path (Gather, Forward, SoftmaxCrossEntropy, Backward, SGD or Adam)
// computes, up to the order of float32 sums, in three jobs on the pool
// instead of about fourteen ops. Each job is split into parts, one per
// thread (up to mlpMaxParts), each part a range of the first layer's
// inputs (whole strips of 16) and a range of the batch's rows:
//
//	first  phase 0, per part: the whole batch gathered into the part's
//	       copy, and W1's columns of its inputs transposed into those
//	       rows of W1ᵀ (inputs × units, the layout the sparse kernels
//	       read); phase 1, per part: A1's rows of its batch rows
//	rows   per block of 16 rows: the other layers, the loss and the
//	       backward pass down to dA1
//	grad   per part: the columns of dW1 of its inputs, a strip of 16
//	       inputs at a time in L1 (the strip of the batch transposed, its
//	       product with dA1 by the sparse kernels, transposed into
//	       Grads), and the optimiser's update of those columns of W1
//
// with the other layers' weight gradients, the biases' and their updates
// in between, on the calling thread (a few microseconds). A part's
// columns of W1, its rows of W1ᵀ and its columns of dW1 (and the
// optimiser's state there) stay on the core that runs the part from one
// step to the next: the gradient updates the columns that the next
// step's transposition reads. Splitting the sparse products by rows and
// by inputs rather than by units keeps each nonzero pixel's work (its
// bit in the mask, the broadcast, the branch) on one core: the work per
// nonzero, not the FMAs, bounds these products.
//
// Pixels are taken raw (p, the byte as a float) when the batch is
// normalised, and x = scale·p + shift is moved into the epilogues:
// x·W1ᵀ = scale·(p·W1ᵀ) + shift·Σ_k W1[:,k] and dW1 = scale·(dA1ᵀ·p) +
// shift·Σ_r dA1[r,:]. A normalised batch (the default recipe: its
// background is −0.42, not 0) is then as sparse as a raw one. Without a
// shift (the tutorial: scale 1/255) the batch is scaled as Gather scales
// it.
//
// The results do not depend on the number of threads: a part's rows or
// inputs are computed as they are on one thread, and no sum is split
// between parts (TestMLPStepMatchesOps, TestMLPStepThreads). Kernel sets
// without the bit-mask kernels (AVX2, pure Go) run the first layer's
// products through the GEMM driver instead, in one part.

// mlpMaxWork is the largest workspace MLPWorkspace accepts, in float32s (1 GiB).
const mlpMaxWork = 1 << 28

// mlpLayout is where a step's arrays lie in the workspace.
type mlpLayout struct {
	parts        int // parts of the first layer's jobs, each with its copy of the batch
	h1p          int // the first layer's units rounded up to whole vectors (of 16)
	w1t, x, xt   int // W1ᵀ (in×h1p), the batch (parts × rows×in), its transpose (in×rows)
	dw1t         int // dW1ᵀ (in×h1p), for the GEMM driver
	g1           int // dA1 with rows padded to whole vectors (rows×h1p)
	bias1        int // the first layer's bias with the shift folded in (parts × h1p)
	shiftBias    int // shift·Σ_r dA1[r,:] (h1p)
	acts, dacts  []int
	total        int
	layerOffsets []int // per layer: offset of W_l in the parameters (b_l follows)
}

// mlpPlan returns the workspace layout of an MLP's step for batches of up
// to batch rows in parts, or an error saying why it cannot be fused.
func mlpPlan(widths []int, batch, parts int) (mlpLayout, error) {
	var l mlpLayout
	err := l.plan(widths, batch, parts)
	return l, err
}

// plan sets l to the layout mlpPlan describes, reusing its slices.
func (l *mlpLayout) plan(widths []int, batch, parts int) error {
	*l = mlpLayout{parts: parts, acts: l.acts[:0], dacts: l.dacts[:0], layerOffsets: l.layerOffsets[:0]}
	if len(widths) < 2 {
		return fmt.Errorf("%d widths: an MLP has its inputs and at least one layer's outputs", len(widths))
	}
	if batch < 1 {
		return fmt.Errorf("batch of %d: a training step has at least one sample", batch)
	}
	const limit = mlpMaxWork
	for i, w := range widths {
		if w < 1 || w > limit {
			return fmt.Errorf("width %d is %d: the fused step takes layers of 1 to %d units", i, w, limit)
		}
	}
	if batch > limit {
		return fmt.Errorf("batch of %d: the fused step takes at most %d rows", batch, limit)
	}
	in, h1 := widths[0], widths[1]
	l.h1p = (h1 + 15) / 16 * 16
	n := 0
	add := func(a, b int) int {
		off := n
		if a > limit/b || a*b > limit-n {
			n = limit + 1
			return off
		}
		n += a * b
		return off
	}
	l.w1t = add(in, l.h1p)
	l.x = add(batch*parts, in)
	l.xt = add(in, batch)
	l.dw1t = add(in, l.h1p)
	l.g1 = add(batch, l.h1p)
	l.bias1 = add(l.h1p, parts)
	l.shiftBias = add(l.h1p, 1)
	l.acts = append(l.acts, 0)
	l.dacts = append(l.dacts, 0)
	off := 0
	for i := 1; i < len(widths); i++ {
		l.acts = append(l.acts, add(batch, widths[i]))
		l.dacts = append(l.dacts, add(batch, widths[i]))
		l.layerOffsets = append(l.layerOffsets, off)
		off += widths[i] * (widths[i-1] + 1)
	}
	if n > limit {
		return errors.New("the fused step's scratch would pass 2^28 float32s (1 GiB): the step runs op by op")
	}
	l.total = n
	return nil
}

// mlpMaxParts is the most parts the first layer's jobs are split into:
// each part gathers the whole batch and reads all of W1ᵀ, so more parts
// than a few cost more in copies and cache traffic than they give back.
const mlpMaxParts = 4

// mlpParts returns how many parts the first layer's jobs of a batch of
// rows rows with in inputs are split into on this backend: one per
// thread, each with at least 8 rows and 4 strips of inputs.
func (b *Backend) mlpParts(in, rows int) int {
	ks := b.kernels()
	if ks.maskRows == nil {
		return 1
	}
	return max(1, min(b.pool.workers, mlpMaxParts, rows/8, chunkCount(in, ks.lanes)/4))
}

// MLPWorkspace returns the float32 scratch of a fused training step
// (nn.MLPStepper): the first layer's weights and gradient transposed, a
// copy of the batch per thread, and every layer's activations and their
// gradients; about in·(2·h1 + (threads+1)·batch) elements.
func (b *Backend) MLPWorkspace(widths []int, batch int) (int, error) {
	if !b.fusedMLP {
		return 0, errFusedOff
	}
	parts := 1
	if len(widths) >= 2 {
		parts = b.mlpParts(widths[0], batch)
	}
	l, err := mlpPlan(widths, batch, parts)
	return l.total, err
}

var _ nn.MLPStepper = (*Backend)(nil)

// errFusedOff is MLPWorkspace's answer on a backend without WithFusedMLP.
var errFusedOff = errors.New("the fused MLP step is off on this backend (cpu.WithFusedMLP(false) or MNIST_CPU_MLP=ops): the step runs op by op")

// mlpScratch is the fused step's scratch kept between calls.
type mlpScratch struct {
	layout mlpLayout
	labels []int32
	job    mlpJob
}

// mlpJob is a fused step's state and its jobs on the pool (see the top of
// this file).
type mlpJob struct {
	b     *Backend
	ks    *kernelSet
	stage int // mlpFirst, mlpRows or mlpGrad

	rows, in, h1, h1p int
	parts             int // parts of the first and grad jobs
	partRows          int // batch rows per part (the forward product)
	partInputs        int // inputs per part (whole strips of lanes; the gradient)
	relu1             bool
	alpha, scale      float32
	shift             float32
	w1, b1, w1t       []float32
	x                 []float32 // the batch, parts copies of rows×in
	bias1             []float32 // b1, or per part b1 + shift·Σ_k W1[:,k] (parts × h1p)
	a1                []float32 // A1 (rows×h1)
	g1                []float32 // dA1, rows of ldg (padded to whole vectors for the mask kernels)
	shiftBias         []float32 // nil without a shift
	dw1t, dw1         []float32
	images            []uint8
	order             []int32
	next              []int32 // the next batch's images, to prefetch
	opt               optJob

	// The rows job.
	widths       []int
	params       []float32
	layerOffsets []int
	acts, dacts  [][]float32 // per layer (acts[0] = X)
	labels       []int32
	lossParts    []float64 // per chunk: the sum of its rows' losses
	gemms        []gemmJob // per worker
	exps         [][]float64
	strips       []stripScratch // per part
	ldg          int            // g1's row stride
}

// stripScratch is a group's strip of Xᵀ and of T (gradStrips).
type stripScratch struct {
	xt, t []float32
	_     [64]byte
}

const (
	mlpFirst = iota
	mlpRows
	mlpGrad
)

// Blocking: rows per block of the rows job, and the forward product's
// blocks of rows and of inputs (128 rows of W1ᵀ of 64 units are 32 KiB:
// they stay in L1 while a block of rows takes its nonzeros).
const (
	mlpRowsChunk       = 16
	mlpForwardInputs   = 128
	mlpForwardRowBlock = 32
)

func (j *mlpJob) chunks() (int, int) {
	switch j.stage {
	case mlpRows:
		return chunkCount(j.rows, mlpRowsChunk), 0
	case mlpFirst:
		return j.parts, j.parts
	}
	return j.parts, 0
}

func (j *mlpJob) do(w, phase, c int) {
	switch j.stage {
	case mlpFirst:
		if phase == 0 {
			j.firstInputs(c)
		} else {
			j.firstRows(c)
		}
	case mlpRows:
		j.rowBlock(w, c)
	default:
		j.grad(c)
	}
}

// inputs returns part c's inputs [k0, k1).
func (j *mlpJob) inputs(c int) (k0, k1 int) { return chunkRange(c, j.in, j.partInputs) }

// batch returns part c's copy of the batch.
func (j *mlpJob) batch(c int) []float32 { return j.x[c*j.rows*j.in : (c+1)*j.rows*j.in] }

// firstInputs is part c's phase 0 of the first job: its copy of the
// batch, and the columns of W1 of its inputs transposed into their rows
// of W1ᵀ.
func (j *mlpJob) firstInputs(c int) {
	x := j.batch(c)
	if j.images != nil {
		for r, i := range j.order {
			j.ks.bytesToF32All(x[r*j.in:(r+1)*j.in], j.images[int(i)*j.in:(int(i)+1)*j.in], j.scale, 0)
		}
	} else if c > 0 {
		copy(x, j.batch(0))
	}
	k0, k1 := j.inputs(c)
	transposeRows(j.ks, j.w1t[k0*j.h1p:], j.h1p, j.w1[k0:], j.in, j.h1, k1-k0)
}

// firstRows is part c's phase 1 of the first job: its rows of A1 =
// relu(α·X·W1ᵀ + bias1), from its copy of the batch and all of W1ᵀ (and
// its copy of bias1 with the shift).
func (j *mlpJob) firstRows(c int) {
	ks, W := j.ks, j.ks.lanes
	x := j.batch(c)
	bias := j.bias1
	if j.shift != 0 {
		bias = j.bias1[c*j.h1p : (c+1)*j.h1p]
		ks.sumRowsAll(bias[:j.h1], j.w1t, j.in, j.h1p)
		for i := range j.h1 {
			bias[i] = j.b1[i] + j.shift*bias[i]
		}
	}
	// Blocks of rows and of inputs: a block's rows of W1ᵀ stay in L1
	// while the rows take theirs (one row uses a fifth of them, a block
	// of rows most).
	p0, p1 := chunkRange(c, j.rows, j.partRows)
	for r0 := p0; r0 < p1; r0 += mlpForwardRowBlock {
		r1 := min(r0+mlpForwardRowBlock, p1)
		for k0 := 0; k0 < j.in; k0 += mlpForwardInputs {
			kn := min(mlpForwardInputs, j.in-k0)
			flags := flagAdd
			if k0 == 0 {
				flags = 0
			}
			if k0+kn == j.in {
				flags |= flagBias
				if j.relu1 {
					flags |= flagReLU
				}
			}
			for v0 := 0; v0 < j.h1; v0 += W * (len(ks.maskRows) - 1) {
				nv := min(len(ks.maskRows)-1, chunkCount(j.h1-v0, W))
				tail := min(W, j.h1-(v0+(nv-1)*W))
				ks.maskRows[nv](&x[r0*j.in+k0], j.in, kn, r1-r0, &j.w1t[k0*j.h1p+v0], j.h1p,
					&j.a1[r0*j.h1+v0], j.h1, j.alpha, flags, tail, &bias[v0], nil)
			}
		}
	}
}

// grad is part c of the grad job (gradStrips), after asking the cache for
// the next batch's images (this core's next gather reads them all).
func (j *mlpJob) grad(c int) {
	ks := j.ks
	for _, i := range j.next {
		if i >= 0 && (int(i)+1)*j.in <= len(j.images) {
			ks.prefetch(&j.images[int(i)*j.in], j.in)
		}
	}
	k0, k1 := j.inputs(c)
	j.gradStrips(c, k0, k1, j.batch(c))
	if j.parts == 1 {
		j.opt.update(0, j.h1*j.in)
		return
	}
	for u := range j.h1 {
		j.opt.update(u*j.in+k0, u*j.in+k1)
	}
}

// gradStrips computes the columns [i0, i1) of dW1 a strip of lanes inputs
// at a time, all in L1: the strip's columns of X transposed into lanes
// rows of Xᵀ (each as long as the batch), their product with dA1 by the
// mask kernels (T = α·Xᵀ·dA1 + shift·db1, lanes × units), and T
// transposed into the strip's columns of dW1.
func (j *mlpJob) gradStrips(c, i0, i1 int, x []float32) {
	ks, W := j.ks, j.ks.lanes
	sc := &j.strips[c]
	u0, u1 := 0, j.h1
	ldt := j.h1p
	sc.xt = grow(sc.xt, W*j.rows)
	sc.t = grow(sc.t, W*ldt)
	var bias *float32
	flags := 0
	if j.shiftBias != nil {
		flags = flagBias
	}
	for k0 := i0; k0 < i1; k0 += W {
		kn := min(W, i1-k0)
		transposeRows(ks, sc.xt, j.rows, x[k0:], j.in, j.rows, kn)
		for v0 := u0; v0 < u1; v0 += W * (len(ks.maskRows) - 1) {
			nv := min(len(ks.maskRows)-1, chunkCount(u1-v0, W))
			tail := min(W, u1-(v0+(nv-1)*W))
			if flags != 0 {
				bias = &j.shiftBias[v0]
			}
			ks.maskRows[nv](&sc.xt[0], j.rows, j.rows, kn, &j.g1[v0], j.ldg, &sc.t[v0-u0], ldt, j.alpha, flags, tail, bias, nil)
		}
		transposeRows(ks, j.dw1[u0*j.in+k0:], j.in, sc.t, ldt, kn, u1-u0)
	}
}

// updateUnits transposes units [u0, u1) of dW1ᵀ into their rows of Grads
// and updates those rows of W1.
func (j *mlpJob) updateUnits(u0, u1 int) {
	W := j.ks.lanes
	for s0 := u0; s0 < u1; s0 += W {
		s1 := min(s0+W, u1)
		for k0 := 0; k0 < j.in; k0 += W {
			k1 := min(k0+W, j.in)
			transposeRows(j.ks, j.dw1[s0*j.in+k0:], j.in, j.dw1t[k0*j.h1p+s0:], j.h1p, k1-k0, s1-s0)
		}
	}
	j.opt.update(u0*j.in, u1*j.in)
}

// rowBlock runs rows [16c, 16c+16) of the batch from A1 through the other
// layers, the loss and the backward pass down to dA1, as worker w: every
// product of it is one row block's, so blocks are independent.
func (j *mlpJob) rowBlock(w, c int) {
	r0, r1 := chunkRange(c, j.rows, mlpRowsChunk)
	n := r1 - r0
	L := len(j.widths) - 1
	g := &j.gemms[w]
	rows := func(m []float32, l int) []float32 { return m[r0*j.widths[l] : r1*j.widths[l]] }
	for l := 2; l <= L; l++ {
		off, wo, wi := j.layerOffsets[l-1], j.widths[l], j.widths[l-1]
		g.prepare(j.b, j.ks, epilogue{c: rows(j.acts[l], l), ldc: wo, alpha: 1, bias: j.params[off+wo*wi : off+wo*wi+wo], relu: l < L},
			rows(j.acts[l-1], l-1), j.params[off:off+wo*wi], n, wo, wi, false, true, false)
		g.runAlone()
	}
	classes := j.widths[L]
	j.lossParts[c] = softmaxRows(j.ks, j.exps[w], j.dacts[L], j.acts[L], j.labels, r0, r1, classes, 1/float64(j.rows))
	for l := L; l >= 2; l-- {
		off, wo, wi := j.layerOffsets[l-1], j.widths[l], j.widths[l-1]
		g.prepare(j.b, j.ks, epilogue{c: rows(j.dacts[l-1], l-1), ldc: wi, alpha: 1, mask: rows(j.acts[l-1], l-1)},
			rows(j.dacts[l], l), j.params[off:off+wo*wi], n, wi, wo, false, false, false)
		g.runAlone()
	}
}

// transposeRows writes dst[c·ldd + r] = src[r·lds + c] for r < rows and
// c < cols: with the transpose kernel for whole blocks of lanes rows and
// columns, in Go for the edges.
func transposeRows(ks *kernelSet, dst []float32, ldd int, src []float32, lds, rows, cols int) {
	W := ks.lanes
	r := 0
	for ; r+W <= rows; r += W {
		nb := cols / W
		if nb > 0 {
			ks.transpose(&src[r*lds], lds, &dst[r], ldd, nb)
		}
		for rr := r; rr < r+W; rr++ {
			for c := nb * W; c < cols; c++ {
				dst[c*ldd+rr] = src[rr*lds+c]
			}
		}
	}
	for ; r < rows; r++ {
		row := src[r*lds : r*lds+cols]
		for c, v := range row {
			dst[c*ldd+r] = v
		}
	}
}

// MLPStep runs one training step of an MLP (nn.MLPStep), fused; see the
// comment at the top of this file.
func (b *Backend) MLPStep(s nn.MLPStep) {
	const op = "MLPStep"
	parts := 1
	if len(s.Widths) >= 2 {
		parts = b.mlpParts(s.Widths[0], s.Rows)
	}
	l := &b.mlp.layout
	planErr := l.plan(s.Widths, s.Rows, parts)
	if !b.core.Check(op, s.Check(&b.core, l.total)) {
		return
	}
	if planErr == nil && !b.fusedMLP {
		planErr = errFusedOff
	}
	if planErr != nil {
		b.core.Fail(op, "%v", planErr)
		return
	}
	ks := b.kernels()
	rows, L := s.Rows, len(s.Widths)-1
	in, h1, classes := s.Widths[0], s.Widths[1], s.Widths[L]
	work := floats32(s.Work)
	params, grads := floats32(s.Params), floats32(s.Grads)
	act := func(i int) []float32 {
		if i == 0 {
			return work[l.x : l.x+rows*in]
		}
		return work[l.acts[i] : l.acts[i]+rows*s.Widths[i]]
	}
	dact := func(i int) []float32 { return work[l.dacts[i] : l.dacts[i]+rows*s.Widths[i]] }
	weights := func(p []float32, i int) ([]float32, []float32) {
		off, w, wIn := l.layerOffsets[i-1], s.Widths[i], s.Widths[i-1]
		return p[off : off+w*wIn], p[off+w*wIn : off+w*wIn+w]
	}
	w1, b1 := weights(params, 1)
	dw1, db1 := weights(grads, 1)
	// One part per thread when the pool runs jobs with its helpers now
	// (see modeSelector); one part on this thread when it runs them
	// alone, which then does no work twice. The bits are the same.
	partsAsked := parts // the selector's measure of a first or grad job
	parallel := parts > 1 && b.pool.modes.parallel()
	if !parallel {
		parts = 1
	}
	j := &b.mlp.job
	*j = mlpJob{lossParts: j.lossParts, gemms: j.gemms, exps: j.exps, acts: j.acts[:0], dacts: j.dacts[:0], strips: j.strips,
		b: b, ks: ks, stage: mlpFirst, rows: rows, in: in, h1: h1, h1p: l.h1p, relu1: L > 1,
		alpha: 1, scale: 1, w1: w1, b1: b1, bias1: b1, w1t: work[l.w1t : l.w1t+in*l.h1p],
		x: work[l.x : l.x+parts*rows*in], a1: act(1), g1: dact(1),
		dw1t: work[l.dw1t : l.dw1t+in*l.h1p], dw1: dw1}
	// Whole strips of inputs per part: as many parts, or fewer when the
	// strips do not divide evenly.
	j.partInputs = ks.lanes * chunkCount(chunkCount(in, ks.lanes), parts)
	j.parts = chunkCount(in, j.partInputs)
	j.partRows = chunkCount(rows, j.parts)
	for len(j.strips) < j.parts {
		j.strips = append(j.strips, stripScratch{})
	}

	// The batch's labels (its pixels are converted by the first job: as
	// they are, or scaled when there is no shift).
	if cap(b.mlp.labels) < rows {
		b.mlp.labels = make([]int32, rows)
	}
	ys := b.mlp.labels[:rows]
	if s.Images != nil {
		images, labels := s.Images.(*host.Buffer).Uint8s(), s.Labels.(*host.Buffer).Uint8s()
		all := s.Order.(*host.Buffer).Int32s()
		order := all[s.Start : s.Start+rows]
		for r, i := range order {
			if i < 0 || int(i) >= len(labels) || (int(i)+1)*in > len(images) {
				b.core.Fail(op, "order[%d] = %d is outside the data set (%d labels, %d images of %d pixels)",
					s.Start+r, i, len(labels), len(images)/in, in)
				return
			}
			ys[r] = int32(labels[i])
		}
		j.images, j.order, j.scale = images, order, s.Scale
		if s.Shift != 0 {
			j.alpha, j.shift, j.scale = s.Scale, s.Shift, 1
			j.bias1 = work[l.bias1 : l.bias1+parts*l.h1p]
		}
		if next := len(all) - (s.Start + rows); next > 0 {
			j.next = all[s.Start+rows : s.Start+rows+min(rows, next)]
		}
	} else {
		copy(j.batch(0), floats32(s.X)[:rows*in])
		copy(ys, s.Y.(*host.Buffer).Int32s()[:rows])
	}
	for r, y := range ys {
		if y < 0 || int(y) >= classes {
			b.core.Fail(op, "the label of row %d is %d, outside the %d classes [0, %d)", r, y, classes, classes)
			return
		}
	}
	fast := ks.maskRows != nil

	// The batch, W1ᵀ and A1 by parts (the fast kernels), or A1 through the
	// GEMM driver.
	if fast {
		b.pool.runSplit(j, parallel, 2*partsAsked)
	} else {
		j.forwardDriver(b)
	}

	// The other layers, the loss and the backward pass down to dA1, by
	// blocks of rows; then the other layers' weight gradients.
	j.stage = mlpRows
	j.widths, j.params, j.layerOffsets, j.labels = s.Widths, params, l.layerOffsets, ys
	for i := 0; i <= L; i++ {
		j.acts = append(j.acts, act(i))
		if i == 0 {
			j.dacts = append(j.dacts, nil)
		} else {
			j.dacts = append(j.dacts, dact(i))
		}
	}
	blocks := chunkCount(rows, mlpRowsChunk)
	if cap(j.lossParts) < blocks {
		j.lossParts = make([]float64, blocks)
	}
	j.lossParts = j.lossParts[:blocks]
	for len(j.gemms) < b.pool.workers {
		j.gemms = append(j.gemms, gemmJob{})
	}
	for len(j.exps) < b.pool.workers {
		j.exps = append(j.exps, nil)
	}
	for w := range j.exps {
		j.exps[w] = grow(j.exps[w], softmaxScratch(classes))
	}
	b.runJob(j, rows*classes*L*64)
	var lossSum float64
	for _, p := range j.lossParts {
		lossSum += p
	}
	floats32(s.Loss)[0] = float32(lossSum / float64(rows))
	for i := L; i >= 2; i-- {
		dw, db := weights(grads, i)
		wi, wo := s.Widths[i-1], s.Widths[i]
		b.runGemm(ks, epilogue{c: dw, ldc: wi, alpha: 1}, dact(i), act(i-1), wo, wi, rows, true, false)
		ks.sumRowsAll(db, dact(i), rows, wo)
	}
	ks.sumRowsAll(db1, dact(1), rows, h1)
	if j.shift != 0 {
		j.shiftBias = work[l.shiftBias : l.shiftBias+l.h1p]
		for i := range h1 {
			j.shiftBias[i] = j.shift * db1[i]
		}
		clear(j.shiftBias[h1:])
	}
	j.ldg = h1
	if fast && h1 != l.h1p {
		// The mask kernels read whole vectors of D's rows: dA1 padded.
		j.g1, j.ldg = work[l.g1:l.g1+rows*l.h1p], l.h1p
		for r := range rows {
			clear(j.g1[r*l.h1p+copy(j.g1[r*l.h1p:], dact(1)[r*h1:(r+1)*h1]) : (r+1)*l.h1p])
		}
	}

	// dW1 and the update of W1 by parts (the fast kernels), or through the
	// GEMM driver; then the update of the other parameters.
	j.opt = b.optimizer(s.Optimizer, s.LR, s.Update, params, grads, s.State)
	j.stage = mlpGrad
	if fast {
		b.pool.runSplit(j, parallel, partsAsked)
	} else {
		j.gradDriver(b, work[l.xt:l.xt+in*rows])
	}
	j.opt.update(h1*in, len(params))
}

// forwardDriver is the first job on kernel sets without the mask kernels:
// the batch, then A1 through the GEMM driver (which transposes W1).
func (j *mlpJob) forwardDriver(b *Backend) {
	x := j.batch(0)
	if j.images != nil {
		for r, i := range j.order {
			j.ks.bytesToF32All(x[r*j.in:(r+1)*j.in], j.images[int(i)*j.in:(int(i)+1)*j.in], j.scale, 0)
		}
	}
	if j.shift != 0 {
		// b1 + shift·Σ_k W1[j,k], summed in k order as sumRows does.
		for u := range j.h1 {
			var t float32
			for _, v := range j.w1[u*j.in : (u+1)*j.in] {
				t += v
			}
			j.bias1[u] = j.b1[u] + j.shift*t
		}
	}
	b.runGemm(j.ks, epilogue{c: j.a1, ldc: j.h1, alpha: j.alpha, bias: j.bias1[:j.h1], relu: j.relu1},
		x, j.w1, j.rows, j.h1, j.in, false, true)
}

// gradDriver is the grad job on kernel sets without the bit-mask kernels:
// dW1ᵀ = α·Xᵀ·dA1 + shift·db1 through the GEMM driver, then the update.
func (j *mlpJob) gradDriver(b *Backend, xt []float32) {
	transposeRows(j.ks, xt, j.rows, j.batch(0), j.in, j.rows, j.in)
	var bias []float32
	if j.shiftBias != nil {
		bias = j.shiftBias[:j.h1]
	}
	b.runGemm(j.ks, epilogue{c: j.dw1t, ldc: j.h1p, alpha: j.alpha, bias: bias}, xt, j.g1, j.in, j.h1, j.rows, false, false)
	j.updateUnits(0, j.h1)
}

// floats32 returns a checked float32 host buffer's elements.
func floats32(buf nn.Buffer) []float32 { return buf.(*host.Buffer).Float32s() }
