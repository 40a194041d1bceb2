// Package nn is the shared core of the training engine: the Backend
// interface that the cpu and gpu packages implement, the registry that picks
// one at run time, model specs and layers, optimisers and the trainer.
//
// Everything above a Backend (models, the trainer) is written once in terms
// of its op-shaped methods; everything below it (loops, SIMD, CUDA kernels)
// is the backend's business.
package nn

import "fmt"

// DType is the element type of a Buffer.
type DType uint8

// The element types a Buffer may hold.
const (
	Float32 DType = iota + 1
	Int32
	Uint8
)

func (t DType) String() string {
	switch t {
	case Float32:
		return "float32"
	case Int32:
		return "int32"
	case Uint8:
		return "uint8"
	}
	return fmt.Sprintf("DType(%d)", uint8(t))
}

// Size returns the size in bytes of one element.
func (t DType) Size() int {
	switch t {
	case Float32, Int32:
		return 4
	case Uint8:
		return 1
	}
	return 0
}

// Buffer is an array of one DType in a backend's memory (host memory for the
// CPU, device memory for a GPU). Only the backend that allocated it may use it.
type Buffer interface {
	DType() DType
	Len() int
	// Slice returns a view of elements [off, off+n) that shares memory with
	// the buffer. It panics when the range is out of bounds, like a Go slice.
	Slice(off, n int) Buffer
}

// Gemm describes one general matrix multiply with an optional fused epilogue.
// All matrices are row-major and dense:
//
//	C = Alpha·op(A)·op(B) + Beta·C        op(A) is M×K, op(B) is K×N, C is M×N
//	C = C + Bias                           when Bias is set (N elements, added to every row)
//	C = max(C, 0)                          when ReLU is set
//	C = C where Mask > 0, else 0           when Mask is set (M×N; ReLU's backward pass)
//
// A is stored M×K, or K×M when TransA is set; B is stored K×N, or N×K when
// TransB is set. With Beta 0, C's old content is ignored (NaN included).
// K = 0 leaves C = Beta·C, then the epilogue. C must not overlap A, B, Bias
// or Mask. Products with an exact zero factor may be skipped (MNIST's
// inputs are mostly zeros), so 0·Inf and 0·NaN may count as 0.
//
// For a linear layer y = x·Wᵀ + b with W stored [out, in] as PyTorch does:
//
//	forward   y  = x·Wᵀ + b   Gemm{TransB: true, M: batch, N: out, K: in, A: x, B: W, Bias: b}
//	weights   dW = dyᵀ·x      Gemm{TransA: true, M: out, N: in, K: batch, A: dy, B: x}
//	inputs    dx = dy·W       Gemm{M: batch, N: in, K: out, A: dy, B: W}
type Gemm struct {
	TransA, TransB bool
	M, N, K        int
	Alpha, Beta    float32
	A, B, C        Buffer
	Bias           Buffer // optional: N elements
	ReLU           bool
	Mask           Buffer // optional: M×N, typically the activation of a ReLU layer
}

// Backend runs the ops of training and inference on one device.
//
// Ops are queued in order and may run asynchronously (a GPU backend returns
// before the work is done). Ops do not return errors: the first failure (a
// shape mismatch, a foreign buffer, a failed launch) is kept, later ops are
// skipped, and Sync and Download return it. Each op's operand contract
// (dimensions, element types, lengths, what may not overlap) is written once,
// as its Check function in contract.go, and every backend runs it before the
// op; a buffer may be longer than an op needs.
//
// Upload returns its own misuse errors (a wrong type or length) without
// making them sticky; Download returns the sticky error first. A buffer
// belongs to the backend instance that allocated it: using it with another
// is an error. Out-of-range labels (SoftmaxCrossEntropy), order entries
// (Gather, GatherAffine) and argmax entries (MaxPool2DBackward) are errors
// too, reported by the op's Sync at the latest.
//
// A Backend is not safe for concurrent use: use it from one goroutine (a GPU
// backend documents which).
type Backend interface {
	// Name is the registry name ("cpu", "cuda").
	Name() string
	// Device describes the hardware for people, e.g. "AMD EPYC (2 threads)".
	Device() string

	// Alloc returns a zeroed buffer of n elements.
	Alloc(t DType, n int) (Buffer, error)
	// Free releases a buffer allocated by Alloc (not a Slice of one).
	Free(b Buffer)
	// Upload copies src ([]float32, []int32 or []uint8, matching dst's DType
	// and at most dst.Len() long) to the start of dst.
	Upload(dst Buffer, src any) error
	// Download waits for queued work and copies the start of src into dst
	// ([]float32, []int32 or []uint8 matching src's DType, at most src.Len() long).
	Download(dst any, src Buffer) error

	// Gemm computes g.C as Gemm describes.
	Gemm(g Gemm)
	// ReLU sets x[i] = max(x[i], 0) for i < n; NaN stays NaN.
	ReLU(x Buffer, n int)
	// ReLUBackward sets grad[i] = 0 where out[i] <= 0, for i < n; out is the
	// ReLU's output (where it is NaN, grad is kept).
	ReLUBackward(grad, out Buffer, n int)
	// SoftmaxCrossEntropy computes, for logits (rows×cols) and int32 labels
	// (rows), the mean over rows of -log softmax(logits[r])[labels[r]] into
	// loss[0], stably (max-subtracted). When grad is not nil it also writes the
	// gradient of that mean with respect to the logits into grad (rows×cols):
	// (softmax(logits[r]) - onehot(labels[r])) / rows.
	SoftmaxCrossEntropy(loss, grad, logits, labels Buffer, rows, cols int)
	// ColumnSums sets dst[c] = Σ_r src[r,c] for src (rows×cols): the bias gradient.
	ColumnSums(dst, src Buffer, rows, cols int)
	// Argmax sets dst[r] (int32) to the index of the largest of src[r,:]
	// (rows×cols), the first one on ties.
	Argmax(dst, src Buffer, rows, cols int)
	// Gather builds a batch from a uint8 data set in the backend's memory: for
	// r < rows, with i = order[start+r],
	//	x[r,j] = float32(images[i·pixels+j])·scale + shift   (x is rows×pixels)
	//	y[r]   = int32(labels[i])
	// order is int32, images and labels are uint8.
	Gather(x, y, images, labels, order Buffer, start, rows, pixels int, scale, shift float32)
	// GatherAffine is Gather with every image resampled through an affine
	// map, for data augmentation: for r < rows, with i = order[start+r],
	// a = affine[6·(start+r) : 6·(start+r)+6] (float32; one map per position
	// of order) and every output pixel (ox, oy) of the height×width image,
	//	sx = a0·ox + a1·oy + a2,  sy = a3·ox + a4·oy + a5
	//	x0 = floor(sx), y0 = floor(sy), tx = sx − x0, ty = sy − y0
	//	v  = (1−ty)·((1−tx)·P(x0, y0) + tx·P(x0+1, y0)) + ty·((1−tx)·P(x0, y0+1) + tx·P(x0+1, y0+1))
	//	x[r, oy·width+ox] = v·scale + shift;  y[r] = int32(labels[i])
	// where P(px, py) = float32(images[i·height·width + py·width + px]) inside
	// the image and 0 outside it, and v = 0 unless −1 < sx < width and
	// −1 < sy < height (which also covers NaN maps). The identity map
	// (1, 0, 0, 0, 1, 0) reproduces Gather.
	GatherAffine(x, y, images, labels, order, affine Buffer, start, rows, height, width int, scale, shift float32)

	// Im2Col writes the receptive fields of the NHWC batch x
	// (g.InputLen() elements) as the rows of cols (g.Rows()×g.Cols()), the
	// columns in PyTorch's weight order, with S = g.Stride, P = g.Pad:
	//	cols[(b·OH + oh)·OW + ow, (c·KH + kh)·KW + kw] = x[b, oh·S − P + kh, ow·S − P + kw, c]
	// and 0 where that position is in the padding. See ConvGeom for the
	// GEMMs that make a convolution of it.
	Im2Col(cols, x Buffer, g ConvGeom)
	// Col2Im is the adjoint of Im2Col: it sets every element of dx (the
	// NHWC batch, g.InputLen() elements) to the sum of the elements of cols
	// (g.Rows()×g.Cols()) that Im2Col copies it to, and to 0 where no window
	// covers it. With cols the gradient of a loss with respect to Im2Col's
	// output, dx is the gradient with respect to its input.
	Col2Im(dx, cols Buffer, g ConvGeom)
	// MaxPool2D sets y (NHWC, g.OutputLen() elements) to the maxima of the
	// windows of x (g.InputLen() elements), with S = g.Stride:
	//	y[b, oh, ow, c] = max over i, j < g.Size of x[b, oh·S + i, ow·S + j, c]
	// and, when argmax (int32, like y) is not nil, argmax[b, oh, ow, c] to
	// i·Size + j of the first maximum in row-major window order. A NaN
	// counts as larger than any number (it propagates, as in PyTorch).
	MaxPool2D(y, argmax, x Buffer, g PoolGeom)
	// MaxPool2DBackward sets dx (g.InputLen() elements) to the gradient
	// with respect to MaxPool2D's input, from dy (the gradient with respect
	// to its output) and the argmax that MaxPool2D wrote: every dy element
	// is added to the input element its argmax names, and the others are
	// 0. An argmax entry outside [0, Size²) is an error.
	MaxPool2DBackward(dx, dy, argmax Buffer, g PoolGeom)

	// SGD updates params in place (all buffers of equal length, else an
	// error; velocity may be nil when momentum is 0), exactly as
	// torch.optim.SGD does:
	//	g = grad + weightDecay·p
	//	v = momentum·v + g                        (momentum ≠ 0)
	//	g = nesterov ? g + momentum·v : v         (momentum ≠ 0)
	//	p = p - lr·g
	SGD(params, grads, velocity Buffer, lr, momentum, weightDecay float32, nesterov bool)
	// Adam updates params in place exactly as torch.optim.Adam does, with
	// step t ≥ 1 counting this update and weight decay added to the gradient:
	//	g = grad + weightDecay·p
	//	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
	//	p = p - lr·(m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + eps)
	Adam(params, grads, m, v Buffer, lr, beta1, beta2, eps, weightDecay float32, t int)

	// Sync waits for queued work and returns the first error an op met.
	// Errors are sticky: after one, later ops are skipped and Sync keeps
	// returning it, since the buffers' contents can no longer be trusted.
	Sync() error
	// Close releases everything the backend holds; buffers become invalid.
	Close() error
}

// Recorder is implemented by backends that can capture a fixed sequence of
// ops once and replay it as one launch (CUDA graphs): per-op launch costs
// then vanish from a training epoch of thousands of small ops.
//
// Buffer addresses and scalar arguments (sizes, offsets, the learning rate)
// are fixed at Record time; buffer contents are read at each replay. So an
// epoch recorded once replays correctly after a new visiting order is
// uploaded into the same buffer, but not with another learning rate.
type Recorder interface {
	// Record runs ops, which may call only ops that queue work (not Alloc,
	// Free, Upload, Download or Sync), capturing instead of running them.
	Record(ops func()) (Recording, error)
}

// Recording is an op sequence captured by a Recorder.
type Recording interface {
	// Replay queues the recorded ops again, in order with other ops.
	Replay() error
	// Close releases the recording.
	Close() error
}

// HyperRecorder is a Recorder whose recordings read, when they replay, the
// optimiser's learning rate and update number, the position of the batch in
// the visiting order and the slot of the step's loss from the device (see
// Replay), so that a recording of a few training steps serves every stretch
// of every epoch of a run, for every optimiser and schedule. The optimiser
// steps inside one recording must share one learning rate.
type HyperRecorder interface {
	Recorder
	RecordHyper(ops func()) (HyperRecording, error)
}

// HyperRecording is a Recording of a HyperRecorder.
type HyperRecording interface {
	Recording
	// ReplayAt queues the recorded ops again as Replay says.
	ReplayAt(r Replay) error
}

// Replay is what changes from one replay of a HyperRecording to the next.
type Replay struct {
	// LR is the learning rate of every optimiser step in the recording.
	LR float32
	// UpdateBase is added to the update number each optimiser step was
	// recorded with (Adam's t).
	UpdateBase int
	// RowBase is added to the start of every Gather and GatherAffine (and
	// MLPStep): the recorded batches are taken RowBase positions further on
	// in the visiting order.
	RowBase int
	// LossBase moves the loss of every SoftmaxCrossEntropy (and MLPStep)
	// LossBase elements past the loss buffer it was recorded with.
	LossBase int
}

// HostWrapper is implemented by backends whose buffers are host memory (the
// CPU): Wrap returns a buffer over src ([]float32, []int32 or []uint8)
// itself, without copying, so that a data set resident "on the device" does
// not exist twice in RAM. The caller must not change src while the buffer is
// in use; Free releases the buffer, not src.
type HostWrapper interface {
	Wrap(src any) (Buffer, error)
}

// Transfer is one copy of a DownloadAll: the start of Src into Dst, as
// Backend.Download takes them.
type Transfer struct {
	Dst any
	Src Buffer
}

// BatchDownloader is implemented by backends whose Download waits for the
// device (the CUDA backend): DownloadAll copies every transfer after one
// wait, where as many Downloads would wait once each.
type BatchDownloader interface {
	DownloadAll(ts ...Transfer) error
}

// DownloadAll copies each transfer's Src into its Dst: in one wait where b
// is a BatchDownloader, by one Download each otherwise. It stops at the
// first error.
func DownloadAll(b Backend, ts ...Transfer) error {
	if d, ok := b.(BatchDownloader); ok {
		return d.DownloadAll(ts...)
	}
	for _, t := range ts {
		if err := b.Download(t.Dst, t.Src); err != nil {
			return err
		}
	}
	return nil
}
