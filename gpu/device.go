package gpu

import "unsafe"

// device is what a Backend needs from the layer below it: the CUDA driver
// (cuda.go) or, in tests, the CPU emulator of the same kernels. Addresses
// are device addresses. Work is queued in order on one stream.
type device interface {
	// alloc returns n bytes of device memory (contents undefined).
	alloc(n int) (uint64, error)
	// free releases memory from alloc once queued work is done.
	free(ptr uint64) error
	// zero queues setting n bytes at ptr to 0.
	zero(ptr uint64, n int) error
	// upload queues a copy of src to dst; src may be reused when it returns.
	upload(dst uint64, src []byte) error
	// download waits for queued work, once for all of them where it can,
	// and copies each part's src into its dst.
	download(parts ...hostCopy) error
	// launch queues kernel k with one parameter struct of size bytes.
	launch(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error
	// launchDependent is launch with programmatic dependent launch: k may
	// start before the kernel queued before it has ended. Only for kernels
	// that wait for it (griddepcontrol.wait) before they touch what it
	// writes: the fused MLP step's with mlp_params.pdl (kernels/mlp.cu).
	launchDependent(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error
	// sync waits for queued work.
	sync() error
	// beginCapture makes the following launches recorded instead of run,
	// until endCapture returns them as a graph.
	beginCapture() error
	endCapture() (graph, error)
	// multiprocessors is the number of SMs, for launch shapes.
	multiprocessors() int
	// fault returns the sticky fault that made the device unusable for the
	// rest of the process (an illegal address in a kernel, say), or nil.
	fault() error
	// close releases the device; the backend is done with it.
	close() error
}

// hostCopy is one part of a download: len(dst) bytes from device address src.
type hostCopy struct {
	dst []byte
	src uint64
}

// graph is a recorded sequence of launches (a CUDA graph).
type graph interface {
	launch() error // queue one replay
	destroy() error
}

// kernel names one entry point of package kernels.
type kernel int

const (
	kGemm kernel = iota
	kReLU
	kReLUBackward
	kSoftmaxXent
	kColumnSums
	kArgmax
	kGather
	kSGD
	kAdam
	kIm2Col
	kCol2Im
	kMaxPool
	kMaxPoolBackward
	kGatherAffine
	kMLPFirst
	kMLPRows
	kMLPUpdate
	kGemmSplitKReduce
	numKernels
)

// kernelNames are the extern "C" names in kernels/*.cu, by kernel.
var kernelNames = [numKernels]string{
	kGemm:         "gemm_f32",
	kReLU:         "relu_f32",
	kReLUBackward: "relu_backward_f32",
	kSoftmaxXent:  "softmax_xent_f32",
	kColumnSums:   "column_sums_f32",
	kArgmax:       "argmax_f32",
	kGather:       "gather_f32",
	kSGD:          "sgd_f32",
	kAdam:         "adam_f32",

	kIm2Col:          "im2col_f32",
	kCol2Im:          "col2im_f32",
	kMaxPool:         "maxpool_f32",
	kMaxPoolBackward: "maxpool_backward_f32",
	kGatherAffine:    "gather_affine_f32",

	kMLPFirst:         "mlp_first_f32",
	kMLPRows:          "mlp_rows_f32",
	kMLPUpdate:        "mlp_update_f32",
	kGemmSplitKReduce: "gemm_splitk_reduce_f32",
}

func (k kernel) String() string {
	if k >= 0 && k < numKernels {
		return kernelNames[k]
	}
	return "kernel?"
}
