package gpu

import (
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

var _ nn.MLPStepper = (*Backend)(nil)

// mlpMaxBatch is the largest batch the fused step takes: mlp_first_f32's
// grid has ceil(rows/MLP_TILE) rows of blocks, at most maxGridY.
const mlpMaxBatch = maxGridY * mlpTile

// mlpSplit returns how mlp_first_f32 cuts the inputs of the first layer:
// into ksplit slices of kslice = MLP_CHUNK inputs, the columns of
// mlp_update_f32's tiles, so that the update kernel can compute the next
// batch's partial sums in the same slices (mlp_params.prepare). The
// tutorial's 784×64 layer: 13 slices, a grid of 4×4×13 blocks.
func mlpSplit(inputs int) (ksplit, kslice int) {
	return ceilDiv(inputs, mlpChunk), mlpChunk
}

// mlpUpdateBlocks is mlp_update_f32's grid: the MLP_UPDATE_TILE×MLP_CHUNK
// tiles of the first layer's weights, then a block per MLP_THREADS of the
// other parameters, then one for the mean loss.
func mlpUpdateBlocks(widths []int, params int) int {
	tiles := ceilDiv(widths[1], mlpUpdateTile) * ceilDiv(widths[0], mlpChunk)
	return tiles + ceilDiv(params-widths[1]*widths[0], mlpThreads) + 1
}

// MLPWorkspace returns the float32 scratch of a fused training step
// (nn.MLPStepper): for batch rows, the first layer's partial sums, every
// layer's output and gradient and each row's loss (kernels/mlp.cu).
// MLPs deeper than MLP_MAX_LAYERS linear layers or with a layer wider than
// MLP_MAX_WIDTH are not fused.
func (b *Backend) MLPWorkspace(widths []int, batch int) (int, error) {
	layers := len(widths) - 1
	switch {
	case layers < 1:
		return 0, fmt.Errorf("%d widths: an MLP has its inputs and at least one layer's outputs", len(widths))
	case layers > mlpMaxLayers:
		return 0, fmt.Errorf("%d linear layers: the fused step takes at most %d", layers, mlpMaxLayers)
	case batch < 1 || batch > mlpMaxBatch:
		return 0, fmt.Errorf("batch of %d: the fused step takes 1 to %d rows", batch, mlpMaxBatch)
	case widths[0] < 1 || widths[0] > math.MaxInt32/mlpMaxWidth:
		return 0, fmt.Errorf("%d inputs: the fused step takes 1 to %d", widths[0], math.MaxInt32/mlpMaxWidth)
	}
	sum := 0
	for _, w := range widths[1:] {
		if w < 1 || w > mlpMaxWidth {
			return 0, fmt.Errorf("a layer of %d units: the fused step takes 1 to %d", w, mlpMaxWidth)
		}
		sum += w
	}
	ksplit, _ := mlpSplit(widths[0])
	n := batch * (ksplit*widths[1] + 2*sum + 2) // + each row's loss and order entry
	if n > math.MaxInt32 {
		return 0, errors.New("the fused step's scratch would pass 2^31 elements")
	}
	return n, nil
}

// MLPStep queues one training step of an MLP as three kernels
// (nn.MLPStepper; kernels/mlp.cu): mlp_first_f32 (the batch times the
// first layer's weights, in slices), mlp_rows_f32 (a block per row: the
// other layers, the loss, the backward pass) and mlp_update_f32 (every
// parameter's gradient, the first layer's in tiles, and the optimiser's
// update). A Prepared step skips the first: the previous step's update
// kernel computed its partial sums (PrepareNext), so a run of chained
// steps is two kernels a step.
func (b *Backend) MLPStep(s nn.MLPStep) {
	const op = "MLPStep"
	if !b.ready(op) {
		return
	}
	// The contract first (its messages name the operand); then whether
	// this MLP can be fused at all.
	work, fuseErr := b.MLPWorkspace(s.Widths, s.Rows)
	if !b.check(s.Check(b.operands(), work)) {
		return
	}
	if fuseErr != nil {
		b.failf(op, "%v", fuseErr)
		return
	}
	if s.Update > math.MaxInt32 {
		b.failf(op, "update number %d is past %d", s.Update, math.MaxInt32)
		return
	}
	cfg := s.Optimizer.WithDefaults()
	inputs, rows, layers := s.Widths[0], s.Rows, len(s.Widths)-1
	ksplit, kslice := mlpSplit(inputs)
	p := mlpParams{
		params: dev(s.Params).ptr, grads: dev(s.Grads).ptr, work: dev(s.Work).ptr, loss: dev(s.Loss).ptr, status: b.status,
		layers: int32(layers), rows: int32(rows), ksplit: int32(ksplit), kslice: int32(kslice),
		optimizer: mlpSgd, nesterov: b2i(cfg.Nesterov), t: int32(s.Update),
		lr: s.LR, momentum: cfg.Momentum, weightDecay: cfg.WeightDecay, beta1: cfg.Beta1, beta2: cfg.Beta2, eps: cfg.Eps,
	}
	for i, w := range [...]*int32{&p.w0, &p.w1, &p.w2, &p.w3, &p.w4, &p.w5, &p.w6, &p.w7, &p.w8} {
		if i < len(s.Widths) {
			*w = int32(s.Widths[i])
		}
	}
	if s.Images != nil {
		p.images, p.labels, p.order = dev(s.Images).ptr, dev(s.Labels).ptr, dev(s.Order).ptr
		p.start, p.scale, p.shift = int32(s.Start), s.Scale, s.Shift
		p.count = int32(min(s.Images.Len()/inputs, s.Labels.Len(), math.MaxInt32))
	} else {
		p.x, p.y = dev(s.X).ptr, dev(s.Y).ptr
	}
	switch {
	case cfg.Name == "adam":
		p.optimizer, p.m, p.v = mlpAdam, dev(s.State[0]).ptr, dev(s.State[1]).ptr
	case cfg.Momentum != 0:
		p.m = dev(s.State[0]).ptr
	}
	p.hyper = b.recordHyper(op, s.LR)
	params := s.Params.Len()
	block := [3]uint32{mlpThreads, 1, 1}
	p.prepare, p.pdl = b2i(s.PrepareNext), b.mlpPDL
	if !s.Prepared {
		b.launch(op, kMLPFirst, [3]uint32{uint32(ceilDiv(s.Widths[1], mlpTile)), uint32(ceilDiv(rows, mlpTile)), uint32(ksplit)}, block, unsafe.Pointer(&p), unsafe.Sizeof(p))
	}
	b.launchWaiting(op, kMLPRows, [3]uint32{uint32(rows), 1, 1}, [3]uint32{mlpRowsThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p))
	b.launchWaiting(op, kMLPUpdate, [3]uint32{uint32(mlpUpdateBlocks(s.Widths, params)), 1, 1}, block, unsafe.Pointer(&p), unsafe.Sizeof(p))
}
