package gpu

// Go mirrors of the parameter structs in kernels/params.h, field for field
// in the same order and types (uint64_t → uint64, int32_t → int32), so the
// layouts agree by the C and Go alignment rules, which coincide for these
// types on 64-bit targets. TestParamLayout checks every offset against g++
// and every size against the .param declarations in the PTX.

// Constants from kernels/params.h.
const (
	gemmThreads = 256 // GEMM_THREADS

	gemmCfg64x64   = 0
	gemmCfg32x32   = 1
	gemmCfg16x16k4 = 2
	gemmCfg8x8k16  = 3

	statusGatherIndex = 1 // STATUS_GATHER_INDEX
	statusLabel       = 2 // STATUS_LABEL
	statusArgmax      = 4 // STATUS_ARGMAX
	statusAffineIndex = 8 // STATUS_AFFINE_INDEX

	xentThreads   = 512 // XENT_THREADS in ops.cu
	colsumCols    = 32  // COLSUM_COLS
	colsumThreads = 256 // COLSUM_COLS·COLSUM_ROWS
)

type gemmParams struct {
	a, b, c        uint64
	bias           uint64
	mask           uint64
	m, n, k        int32
	transA, transB int32
	relu           int32
	alpha, beta    float32
	config         int32
	tilesN         int32
}

type eltwiseParams struct {
	x, y       uint64
	rows, cols int32
}

type xentParams struct {
	loss, grad, logits, labels, status uint64
	rows, cols                         int32
}

type colsumParams struct {
	dst, src   uint64
	rows, cols int32
}

type argmaxParams struct {
	dst, src, labels, correct uint64
	rows, cols                int32
}

type gatherParams struct {
	x, y, images, labels, order, status uint64
	start, rows, pixels                 int32
	count                               int32
	scale, shift                        float32
}

type optimHyper struct {
	lr         float32
	updateBase int32
}

type optimParams struct {
	params, grads, m, v uint64
	hyper               uint64
	n                   int32
	nesterov            int32
	t                   int32
	unused              int32
	lr                  float32
	momentum            float32
	weightDecay         float32
	beta1, beta2, eps   float32
}

type convParams struct {
	cols, x        uint64
	batch, h, w, c int32
	kh, kw         int32
	stride, pad    int32
	outH, outW     int32
}

type poolParams struct {
	x, y, argmax, status uint64
	batch, h, w, c       int32
	size, stride         int32
	outH, outW           int32
}

type gatherAffineParams struct {
	x, y, images, labels, order, affine, status uint64
	start, rows, height, width                  int32
	count                                       int32
	scale, shift                                float32
	unused                                      int32
}
