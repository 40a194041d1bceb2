package gpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

// Backend runs nn's ops as CUDA kernels on one device, queued in order on
// one stream. It returns from ops before the GPU has run them; Sync and
// Download wait. It may be used from any goroutine, one at a time (see the
// package comment).
type Backend struct {
	dev    device
	desc   string
	sms    int
	err    error // the first failure; sticky
	closed bool

	allocs map[*allocation]struct{}
	// queued: work was queued since the device was last waited for, so
	// Sync has something to wait for. unchecked: kernels ran since the
	// status word was last read, so it may have changed. Both keep a
	// Download or Sync from costing a second round trip for nothing.
	queued, unchecked bool
	status            uint64 // device word the kernels set STATUS_* bits in, at the start of scratch (gpu/scratch.go)
	recording         bool
	// While recording: the device replay_hyper the kernels read (see
	// Recording.ReplayAt), the kernels that take it, and the learning rate
	// the optimiser steps were given.
	hyper      uint64
	hyperReads int
	hyperLR    float32
	hyperSteps int

	// gemmConfig forces a gemm_f32 tile configuration when ≥ 0, so tests
	// can check every configuration; -1 lets planGemm choose. gemmSplits,
	// when ≥ 2, forces K split across about that many blocks (1: never).
	gemmConfig int
	gemmSplits int
	splitK     splitKWorkspace
	// mlpPDL is the fused MLP step's mlp_params.pdl (0, 1 or 2; Open sets
	// it from MNIST_CUDA_PDL, tests directly), and dependentLaunch whether
	// its kernels that wait for the kernel before are launched with
	// programmatic dependent launch when mlpPDL > 0 (Open: where the
	// device, its code and the driver can; see pdlRefusal).
	mlpPDL          int32
	dependentLaunch bool
}

var _ nn.Backend = (*Backend)(nil)

// newBackend makes a Backend on dev, described for people by desc.
func newBackend(dev device, desc string) (*Backend, error) {
	b := &Backend{dev: dev, desc: desc, sms: dev.multiprocessors(), allocs: map[*allocation]struct{}{}, gemmConfig: -1}
	ptr, err := dev.alloc(scratchBytes)
	if err == nil {
		b.status = ptr
		err = dev.zero(ptr, scratchBytes)
	}
	if err != nil {
		dev.close()
		return nil, fmt.Errorf("allocate the status word: %w", err)
	}
	return b, nil
}

// Name returns "cuda".
func (b *Backend) Name() string { return Name }

// Device describes the GPU, e.g. "NVIDIA H100 80GB HBM3 (compute 9.0, ...)".
func (b *Backend) Device() string { return b.desc }

// fail keeps the first error: later ops are skipped, Sync returns it.
func (b *Backend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *Backend) failf(op, format string, args ...any) {
	b.fail(fmt.Errorf("cuda %s: %s", op, fmt.Sprintf(format, args...)))
}

// ready reports whether op may run: no earlier failure, not closed.
func (b *Backend) ready(op string) bool {
	if b.err != nil {
		return false
	}
	if b.closed {
		b.failf(op, "the backend is closed")
		return false
	}
	if err := b.dev.fault(); err != nil {
		b.fail(fmt.Errorf("cuda %s: %w", op, err))
		return false
	}
	return true
}

// hostOnly fails op when called inside Record, where only kernels can be
// captured.
func (b *Backend) hostOnly(op string) error {
	if b.recording {
		err := fmt.Errorf("cuda %s: not allowed inside Record (only ops that launch kernels can be recorded)", op)
		b.fail(err)
		return err
	}
	return nil
}

// check records err, the result of one of nn's op checks (nn/contract.go),
// and reports whether the op may go on.
func (b *Backend) check(err error) bool {
	if err != nil {
		b.fail(fmt.Errorf("cuda %w", err))
		return false
	}
	return true
}

// operands is the Backend as nn's op checks see it (nn.Operands).
type operands Backend

func (b *Backend) operands() *operands { return (*operands)(b) }

// Own returns nil when x is a live buffer of this backend.
func (o *operands) Own(x nn.Buffer) error {
	bb, ok := x.(*buffer)
	switch {
	case !ok || bb.owner != (*Backend)(o):
		return errors.New("is not a buffer of this cuda backend")
	case bb.alloc.freed:
		return errors.New("was freed")
	}
	return nil
}

// Overlap reports whether the first n elements of x and the first m of y
// share memory.
func (o *operands) Overlap(x nn.Buffer, n int, y nn.Buffer, m int) bool {
	return overlaps(x.(*buffer), n, y.(*buffer), m)
}

// dev returns the buffer x (checked) as a device buffer, nil for nil.
func dev(x nn.Buffer) *buffer {
	if x == nil {
		return nil
	}
	return x.(*buffer)
}

func addr(bb *buffer) uint64 {
	if bb == nil {
		return 0
	}
	return bb.ptr
}

func (b *Backend) launch(op string, k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) {
	b.queued, b.unchecked = true, true
	if err := b.dev.launch(k, grid, block, params, size); err != nil {
		b.fail(fmt.Errorf("cuda %s: launch %s: %w", op, k, err))
	}
}

// launchWaiting launches one of the fused MLP step's kernels that, with
// mlp_params.pdl, wait for the kernel before (kernels/mlp.cu): with
// programmatic dependent launch when it is on and mlpPDL asks the kernels
// to wait, plainly otherwise.
func (b *Backend) launchWaiting(op string, k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) {
	if !b.dependentLaunch || b.mlpPDL == 0 {
		b.launch(op, k, grid, block, params, size)
		return
	}
	b.queued, b.unchecked = true, true
	if err := b.dev.launchDependent(k, grid, block, params, size); err != nil {
		b.fail(fmt.Errorf("cuda %s: launch %s (programmatic dependent launch, %s=%d): %w", op, k, PDLEnv, b.mlpPDL, err))
	}
}

// strideGrid is the grid of a grid-stride loop over n elements with
// 256-thread blocks: enough blocks to fill the GPU, no more.
func (b *Backend) strideGrid(n int) [3]uint32 {
	g := ceilDiv(n, 256)
	if limit := 16 * b.sms; g > limit {
		g = limit
	}
	if g < 1 {
		g = 1
	}
	return [3]uint32{uint32(g), 1, 1}
}

var block256 = [3]uint32{256, 1, 1}

// Alloc returns a zeroed buffer of n elements of t.
func (b *Backend) Alloc(t nn.DType, n int) (nn.Buffer, error) {
	if !b.ready("Alloc") {
		return nil, b.err
	}
	if err := b.hostOnly("Alloc"); err != nil {
		return nil, err
	}
	if t.Size() == 0 {
		return nil, fmt.Errorf("cuda Alloc: unknown element type %v", t)
	}
	if n < 0 || n > math.MaxInt64/8 {
		return nil, fmt.Errorf("cuda Alloc: bad length %d", n)
	}
	bytes := n * t.Size()
	ptr, err := b.dev.alloc(max(bytes, 4))
	if err != nil {
		return nil, fmt.Errorf("cuda Alloc %d×%v: %w", n, t, err)
	}
	b.queued = true
	if err := b.dev.zero(ptr, max(bytes, 4)); err != nil {
		b.dev.free(ptr)
		b.fail(fmt.Errorf("cuda Alloc: zero %d bytes: %w", bytes, err))
		return nil, b.err
	}
	a := &allocation{ptr: ptr, bytes: bytes}
	b.allocs[a] = struct{}{}
	return &buffer{owner: b, alloc: a, ptr: ptr, n: n, dtype: t}, nil
}

// Free releases a buffer from Alloc once the work queued before it is done.
func (b *Backend) Free(x nn.Buffer) {
	if x == nil || !b.ready("Free") || b.hostOnly("Free") != nil {
		return
	}
	bb, ok := x.(*buffer)
	switch {
	case !ok || bb.owner != b:
		b.failf("Free", "not a buffer of this cuda backend")
	case bb.view:
		b.failf("Free", "the buffer is a Slice: free the buffer Alloc returned")
	case bb.alloc.freed:
		b.failf("Free", "the buffer was already freed")
	default:
		bb.alloc.freed = true
		delete(b.allocs, bb.alloc)
		if err := b.dev.free(bb.ptr); err != nil {
			b.fail(fmt.Errorf("cuda Free: %w", err))
		}
	}
}

// hostBytes returns the bytes of a []float32, []int32 or []uint8 and its
// element type.
func hostBytes(s any) ([]byte, nn.DType, int, error) {
	switch v := s.(type) {
	case []float32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)), nn.Float32, len(v), nil
	case []int32:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)), nn.Int32, len(v), nil
	case []uint8:
		return v, nn.Uint8, len(v), nil
	}
	return nil, 0, 0, fmt.Errorf("host slice is %T, want []float32, []int32 or []uint8", s)
}

// Upload copies src to the start of dst, in order with the queued ops; src
// may be reused as soon as Upload returns.
func (b *Backend) Upload(dst nn.Buffer, src any) error {
	if !b.ready("Upload") {
		return b.err
	}
	if err := b.hostOnly("Upload"); err != nil {
		return err
	}
	data, t, n, err := hostBytes(src)
	if err != nil {
		return fmt.Errorf("cuda Upload: %w", err)
	}
	d, ok := dst.(*buffer)
	switch {
	case !ok || d.owner != b:
		return errors.New("cuda Upload: dst is not a buffer of this cuda backend")
	case d.alloc.freed:
		return errors.New("cuda Upload: dst was freed")
	case d.dtype != t:
		return fmt.Errorf("cuda Upload: dst is %v, src is %v", d.dtype, t)
	case n > d.n:
		return fmt.Errorf("cuda Upload: src has %d elements, dst only %d", n, d.n)
	}
	if n == 0 {
		return nil
	}
	b.queued = true
	if err := b.dev.upload(d.ptr, data); err != nil {
		b.fail(fmt.Errorf("cuda Upload %d bytes: %w", len(data), err))
		return b.err
	}
	return nil
}

// Download waits for the queued ops and copies the start of src into dst.
func (b *Backend) Download(dst any, src nn.Buffer) error {
	return b.download("Download", nn.Transfer{Dst: dst, Src: src})
}

// DownloadAll copies every transfer's Src into its Dst as Download does,
// waiting for the device once (nn.BatchDownloader).
func (b *Backend) DownloadAll(ts ...nn.Transfer) error {
	return b.download("DownloadAll", ts...)
}

var _ nn.BatchDownloader = (*Backend)(nil)

// download checks the transfers, then copies them, and the kernels' status
// word when a kernel ran since it was last read, after one wait for the
// device (fewer host synchronisations: an epoch's losses and its status
// word come back together).
func (b *Backend) download(op string, ts ...nn.Transfer) error {
	if !b.ready(op) {
		return b.err
	}
	if err := b.hostOnly(op); err != nil {
		return err
	}
	parts := make([]hostCopy, 0, len(ts)+1)
	for i, tr := range ts {
		data, t, n, err := hostBytes(tr.Dst)
		if err != nil {
			return fmt.Errorf("cuda %s: %w", op, err)
		}
		what := func() string { // for the messages only
			if len(ts) > 1 {
				return fmt.Sprintf("transfer %d's src", i)
			}
			return "src"
		}
		s, ok := tr.Src.(*buffer)
		switch {
		case !ok || s.owner != b:
			return fmt.Errorf("cuda %s: %s is not a buffer of this cuda backend", op, what())
		case s.alloc.freed:
			return fmt.Errorf("cuda %s: %s was freed", op, what())
		case s.dtype != t:
			return fmt.Errorf("cuda %s: %s is %v, dst is %v", op, what(), s.dtype, t)
		case n > s.n:
			return fmt.Errorf("cuda %s: dst has %d elements, %s only %d", op, n, what(), s.n)
		}
		if n > 0 {
			parts = append(parts, hostCopy{dst: data, src: s.ptr})
		}
	}
	var status [4]byte
	if b.unchecked {
		parts = append(parts, hostCopy{dst: status[:], src: b.status})
	}
	if len(parts) == 0 {
		if err := b.waitQueued(); err != nil {
			b.fail(fmt.Errorf("cuda %s: %w", op, err))
		}
		return b.err
	}
	if err := b.dev.download(parts...); err != nil {
		bytes := 0
		for _, p := range parts {
			bytes += len(p.dst)
		}
		if len(ts) == 0 {
			b.fail(fmt.Errorf("cuda %s: read the kernels' status word: %w", op, err))
		} else {
			b.fail(fmt.Errorf("cuda %s %d bytes: %w", op, bytes, err))
		}
		return b.err
	}
	b.queued = false
	if b.unchecked {
		b.unchecked = false
		b.readStatus(binary.LittleEndian.Uint32(status[:]))
	}
	return b.err
}

// readStatus fails the backend for each bad-data flag the kernels set in
// the status word s.
func (b *Backend) readStatus(s uint32) {
	if s&statusGatherIndex != 0 {
		b.failf("Gather", "an index in order is outside the data set (images.Len()/pixels images)")
	}
	if s&statusLabel != 0 {
		b.failf("SoftmaxCrossEntropy", "a label is outside [0, cols)")
	}
	if s&statusAffineIndex != 0 {
		b.failf("GatherAffine", "an index in order is outside the data set (images.Len()/pixels images)")
	}
	if s&statusArgmax != 0 {
		b.failf("MaxPool2DBackward", "an argmax entry is outside the pooling window")
	}
}

// Gemm computes g.C as nn.Gemm describes.
func (b *Backend) Gemm(g nn.Gemm) {
	const op = "Gemm"
	if !b.ready(op) || !b.check(g.Check(b.operands())) || g.M == 0 || g.N == 0 {
		return
	}
	p := gemmParams{
		a: dev(g.A).ptr, b: dev(g.B).ptr, c: dev(g.C).ptr, bias: addr(dev(g.Bias)), mask: addr(dev(g.Mask)),
		m: int32(g.M), n: int32(g.N), k: int32(g.K),
		transA: b2i(g.TransA), transB: b2i(g.TransB), relu: b2i(g.ReLU),
		alpha: g.Alpha, beta: g.Beta,
	}
	b.launchGemm(op, p, b.gemmPlan(g.M, g.N, g.K))
}

func b2i(v bool) int32 {
	if v {
		return 1
	}
	return 0
}

// ReLU sets x[i] = max(x[i], 0) for i < n.
func (b *Backend) ReLU(x nn.Buffer, n int) {
	const op = "ReLU"
	if !b.ready(op) || !b.check(nn.CheckReLU(b.operands(), x, n)) || n == 0 {
		return
	}
	p := eltwiseParams{x: dev(x).ptr, n: int32(n)}
	b.launch(op, kReLU, b.strideGrid(n), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// ReLUBackward sets grad[i] = 0 where out[i] <= 0, for i < n.
func (b *Backend) ReLUBackward(grad, out nn.Buffer, n int) {
	const op = "ReLUBackward"
	if !b.ready(op) || !b.check(nn.CheckReLUBackward(b.operands(), grad, out, n)) || n == 0 {
		return
	}
	p := eltwiseParams{x: dev(grad).ptr, y: dev(out).ptr, n: int32(n)}
	b.launch(op, kReLUBackward, b.strideGrid(n), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// SoftmaxCrossEntropy writes the mean cross-entropy into loss[0] and, when
// grad is not nil, its gradient (see nn.Backend). A label outside [0, cols)
// makes the loss NaN and Sync return an error.
func (b *Backend) SoftmaxCrossEntropy(loss, grad, logits, labels nn.Buffer, rows, cols int) {
	const op = "SoftmaxCrossEntropy"
	if !b.ready(op) || !b.check(nn.CheckSoftmaxCrossEntropy(b.operands(), loss, grad, logits, labels, rows, cols)) {
		return
	}
	p := xentParams{
		loss: dev(loss).ptr, grad: addr(dev(grad)), logits: dev(logits).ptr, labels: dev(labels).ptr,
		status: b.status, partials: b.status + xentPartialsOffset, done: b.status + xentDoneOffset,
		hyper: b.replayHyper(), rows: int32(rows), cols: int32(cols),
	}
	b.launch(op, kSoftmaxXent, [3]uint32{uint32(xentBlocks(rows)), 1, 1}, [3]uint32{xentThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// ColumnSums sets dst[c] = Σ_r src[r,c] for src (rows×cols).
func (b *Backend) ColumnSums(dst, src nn.Buffer, rows, cols int) {
	const op = "ColumnSums"
	if !b.ready(op) || !b.check(nn.CheckColumnSums(b.operands(), dst, src, rows, cols)) || cols == 0 {
		return
	}
	p := colsumParams{dst: dev(dst).ptr, src: dev(src).ptr, rows: int32(rows), cols: int32(cols)}
	b.launch(op, kColumnSums, [3]uint32{uint32(ceilDiv(cols, colsumCols)), 1, 1}, [3]uint32{colsumThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// Argmax sets dst[r] to the index of the largest of src[r,:], the first on ties.
func (b *Backend) Argmax(dst, src nn.Buffer, rows, cols int) {
	const op = "Argmax"
	if !b.ready(op) || !b.check(nn.CheckArgmax(b.operands(), dst, src, rows, cols)) || rows == 0 {
		return
	}
	p := argmaxParams{dst: dev(dst).ptr, src: dev(src).ptr, rows: int32(rows), cols: int32(cols)}
	b.launch(op, kArgmax, [3]uint32{uint32(ceilDiv(rows, 256)), 1, 1}, block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// maxGridY is the largest gridDim.y CUDA allows.
const maxGridY = 65535

// Gather builds a batch from the uint8 data set on the device (nn.Backend).
// An index in order outside the data set makes Sync return an error.
func (b *Backend) Gather(x, y, images, labels, order nn.Buffer, start, rows, pixels int, scale, shift float32) {
	const op = "Gather"
	if !b.ready(op) || !b.check(nn.CheckGather(b.operands(), x, y, images, labels, order, start, rows, pixels)) || rows == 0 {
		return
	}
	xb, yb := dev(x), dev(y)
	count := min(images.Len()/pixels, labels.Len(), math.MaxInt32)
	for r := 0; r < rows; r += maxGridY {
		n := min(rows-r, maxGridY)
		p := gatherParams{
			x: xb.ptr + uint64(r*pixels*4), y: yb.ptr + uint64(r*4),
			images: dev(images).ptr, labels: dev(labels).ptr, order: dev(order).ptr, status: b.status, hyper: b.replayHyper(),
			start: int32(start + r), rows: int32(n), pixels: int32(pixels), count: int32(count),
			scale: scale, shift: shift,
		}
		grid := [3]uint32{uint32(ceilDiv(pixels, 256)), uint32(n), 1}
		b.launch(op, kGather, grid, block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
	}
}

// SGD updates params in place exactly as torch.optim.SGD does (nn.Backend).
func (b *Backend) SGD(params, grads, velocity nn.Buffer, lr, momentum, weightDecay float32, nesterov bool) {
	const op = "SGD"
	if !b.ready(op) || !b.check(nn.CheckSGD(b.operands(), params, grads, velocity, momentum)) || params.Len() == 0 {
		return
	}
	n := params.Len()
	m := nn.Buffer(nil)
	if momentum != 0 {
		m = velocity
	}
	p := optimParams{
		params: dev(params).ptr, grads: dev(grads).ptr, m: addr(dev(m)), hyper: b.recordHyper(op, lr),
		n: int32(n), nesterov: b2i(nesterov), lr: lr, momentum: momentum, weightDecay: weightDecay,
	}
	b.launch(op, kSGD, b.strideGrid(n), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// Adam updates params in place exactly as torch.optim.Adam does (nn.Backend).
func (b *Backend) Adam(params, grads, m, v nn.Buffer, lr, beta1, beta2, eps, weightDecay float32, t int) {
	const op = "Adam"
	if !b.ready(op) || !b.check(nn.CheckAdam(b.operands(), params, grads, m, v, t)) || params.Len() == 0 {
		return
	}
	n := params.Len()
	if t > math.MaxInt32 {
		b.failf(op, "step t = %d is past %d", t, math.MaxInt32)
		return
	}
	p := optimParams{
		params: dev(params).ptr, grads: dev(grads).ptr, m: dev(m).ptr, v: dev(v).ptr, hyper: b.recordHyper(op, lr),
		n: int32(n), t: int32(t), lr: lr, weightDecay: weightDecay, beta1: beta1, beta2: beta2, eps: eps,
	}
	b.launch(op, kAdam, b.strideGrid(n), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// Sync waits for the queued ops and returns the first error an op met.
// It waits once: for the status word, when a kernel ran since it was last
// read (a download of nothing else), or for the stream.
func (b *Backend) Sync() error {
	return b.download("Sync")
}

// waitQueued waits for the device when work was queued since it was last
// waited for.
func (b *Backend) waitQueued() error {
	if !b.queued {
		return nil
	}
	if err := b.dev.sync(); err != nil {
		return err
	}
	b.queued = false
	return nil
}

// Close releases the device memory and the device; buffers become invalid.
// It returns what went wrong while releasing them.
func (b *Backend) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if err := b.dev.sync(); err != nil {
		errs = append(errs, err)
	}
	for a := range b.allocs {
		a.freed = true
		if err := b.dev.free(a.ptr); err != nil {
			errs = append(errs, err)
		}
	}
	b.allocs = nil
	errs = append(errs, b.freeWorkspace()...)
	if err := b.dev.free(b.status); err != nil {
		errs = append(errs, err)
	}
	if err := b.dev.close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cuda Close: %w", err)
	}
	return nil
}
