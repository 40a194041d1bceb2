// Kernel parameter blocks, shared by the CUDA kernels (*.cu), the Go package
// gpu and its CPU emulator: the one place they are declared. `go generate
// ./gpu/` writes gpu/params_gen.go and the emulator's layout table from this
// file (gpu/internal/paramgen, which reads one declaration per line:
// #define NAME number, enum constants, typedef structs of uint64_t, int32_t
// and float fields).
//
// Every kernel takes exactly one of these structs by value. Device pointers
// are uint64_t (0 means "absent" for optional inputs) so that the layout is
// the same in CUDA C, in host C and in the generated Go structs.
// Fields are ordered 8-byte first, then 4-byte, so there is no padding
// between them.
#ifndef MNIST_KERNELS_PARAMS_H
#define MNIST_KERNELS_PARAMS_H

#include <stdint.h>

// Threads per block of gemm_f32; every tile configuration uses all of them.
#define GEMM_THREADS 256
// Shared memory of gemm_f32 in floats: the largest configuration's need.
#define GEMM_SMEM_FLOATS 2304

// Tile configurations of gemm_f32 (gemm_params.config). The host picks one per
// problem from the shape (see gpu/gemmplan.go); all use GEMM_THREADS threads.
enum {
	GEMM_CFG_64X64 = 0,   // 64×64 tile, 4×4 per thread: large problems
	GEMM_CFG_32X32 = 1,   // 32×32 tile, 2×2 per thread
	GEMM_CFG_16X16K4 = 2, // 16×16 tile, 2×2 per thread, K split over 4 thread groups
	GEMM_CFG_8X8K16 = 3,  // 8×8 tile, 2×2 per thread, K split over 16 thread groups
	GEMM_CFG_COUNT = 4
};

// Status bits a kernel sets (atomicOr into status) when its input data is
// bad in a way the host cannot check without reading device memory.
enum {
	STATUS_GATHER_INDEX = 1, // gather: order[start+r] outside the data set
	STATUS_LABEL = 2,        // softmax_xent: a label outside [0, cols)
	STATUS_ARGMAX = 4,       // maxpool_backward: an argmax outside the window
	STATUS_AFFINE_INDEX = 8  // gather_affine: order[start+r] outside the data set
};

// gemm_f32: C = alpha·op(A)·op(B) + beta·C, then + bias, ReLU, mask (nn.Gemm).
// With splits > 1 K is split across blocks: gemm_f32 writes each split's
// partial product to partial, and gemm_splitk_reduce_f32, launched after it
// with the same parameters, sums them and applies the epilogue.
typedef struct {
	uint64_t a, b, c;   // float*: A (M×K or K×M), B (K×N or N×K), C (M×N)
	uint64_t bias;      // float*, N elements, or 0
	uint64_t mask;      // float*, M×N, or 0
	uint64_t partial;   // float*, splits×M×N: the split-K workspace (splits > 1), or 0
	int32_t m, n, k;
	int32_t trans_a, trans_b; // 0 or 1
	int32_t relu;             // 0 or 1
	float alpha, beta;
	int32_t config;  // GEMM_CFG_*
	int32_t tiles_n; // ceil(n / tile width of config); the grid is tiles_m·tiles_n × splits blocks
	int32_t splits;  // K split across gridDim.y = splits blocks per tile (1: not split)
	int32_t k_chunk; // K per split: split s takes [s·k_chunk, min((s+1)·k_chunk, k))
} gemm_params;

// relu_f32: x[i] = max(x[i], 0); relu_backward_f32: grad[i] = 0 where
// out[i] <= 0; for i < n.
typedef struct {
	uint64_t x;     // float*: x, or grad for relu_backward_f32
	uint64_t y;     // float*: out for relu_backward_f32; 0 for relu_f32
	int32_t n;
	int32_t unused; // keeps the size a multiple of 8 without hidden padding
} eltwise_params;

// Threads per block of softmax_xent_f32 (a warp per row), and the most
// blocks it is launched with: ceil(rows / (XENT_THREADS/32)), at most this.
#define XENT_THREADS 256
#define XENT_MAX_BLOCKS 256

// softmax_xent_f32: mean cross-entropy of softmax(logits) into loss[0] and,
// when grad is not 0, its gradient with respect to the logits.
typedef struct {
	uint64_t loss;     // float*, 1 element
	uint64_t grad;     // float*, rows×cols, or 0
	uint64_t logits;   // float*, rows×cols
	uint64_t labels;   // int32*, rows
	uint64_t status;   // uint32*, STATUS_LABEL is set on a bad label
	uint64_t partials; // float*, gridDim.x: each block's sum of its rows' losses
	uint64_t done;     // uint32*: blocks finished; 0 before and after every launch
	uint64_t hyper;    // replay_hyper*, or 0: the loss goes to loss[0]
	int32_t rows, cols;
} xent_params;

// column_sums_f32: dst[c] = Σ_r src[r,c].
typedef struct {
	uint64_t dst, src; // float*
	int32_t rows, cols;
} colsum_params;

// argmax_f32: dst[r] = first index of the largest of src[r,:]; when labels is
// not 0 it also adds to correct[0] the number of rows where dst[r] == labels[r].
typedef struct {
	uint64_t dst;     // int32*, rows
	uint64_t src;     // float*, rows×cols
	uint64_t labels;  // int32*, rows, or 0
	uint64_t correct; // uint32*, 1 element (only with labels)
	int32_t rows, cols;
} argmax_params;

// gather_f32: x[r,j] = images[i·pixels+j]·scale + shift, y[r] = labels[i],
// with i = order[start+r].
typedef struct {
	uint64_t x;      // float*, rows×pixels
	uint64_t y;      // int32*, rows
	uint64_t images; // uint8*, count×pixels
	uint64_t labels; // uint8*, count
	uint64_t order;  // int32*
	uint64_t status; // uint32*, STATUS_GATHER_INDEX is set on a bad index
	uint64_t hyper;  // replay_hyper*, or 0: start as given
	int32_t start, rows, pixels;
	int32_t count; // number of images: valid indices are [0, count)
	float scale, shift;
} gather_params;

// replay_hyper: what changes between replays of one recording of training
// steps, read from device memory by every kernel whose parameter block has
// a hyper pointer that is not 0 (kernels/replay.h); one small copy before
// each replay sets it (gpu.Recording.ReplayAt). A recording of a few steps
// then serves every stretch of an epoch, at every learning rate.
typedef struct {
	float lr;            // replaces optim_params.lr and mlp_params.lr
	int32_t update_base; // added to optim_params.t and mlp_params.t
	int32_t row_base;    // added to the start of gathers (gather_params, gather_affine_params, mlp_params)
	int32_t loss_base;   // the loss goes to loss[loss_base] (xent_params, mlp_params)
} replay_hyper;

// sgd_f32 and adam_f32: one update of n parameters (nn.Backend.SGD, .Adam).
typedef struct {
	uint64_t params, grads; // float*
	uint64_t m;             // float*: velocity (SGD, 0 when momentum is 0) or first moment (Adam)
	uint64_t v;             // float*: second moment (Adam only)
	uint64_t hyper;         // replay_hyper*, or 0: lr and t as given here
	int32_t n;
	int32_t nesterov;  // SGD
	int32_t t;         // Adam: the update number, from 1 (plus hyper->update_base)
	int32_t unused;    // keeps the size a multiple of 8 without hidden padding
	float lr;
	float momentum;    // SGD
	float weight_decay;
	float beta1, beta2, eps;      // Adam
} optim_params;

// im2col_f32: the column matrix of a convolution over an NHWC batch;
// col2im_f32: its adjoint (nn.ConvGeom, nn.Backend.Im2Col and Col2Im).
typedef struct {
	uint64_t cols; // float*, (batch·out_h·out_w)×(c·kh·kw)
	uint64_t x;    // float*, batch×h×w×c: the input (im2col) or dx (col2im)
	int32_t batch, h, w, c;
	int32_t kh, kw, stride, pad;
	int32_t out_h, out_w;
} conv_params;

// maxpool_f32 and maxpool_backward_f32 (nn.PoolGeom, nn.Backend.MaxPool2D
// and MaxPool2DBackward).
typedef struct {
	uint64_t x;      // float*, batch×h×w×c: the input (forward) or dx (backward)
	uint64_t y;      // float*, batch×out_h×out_w×c: the output (forward) or dy (backward)
	uint64_t argmax; // int32*, like y; 0 for none (forward only)
	uint64_t status; // uint32*, STATUS_ARGMAX is set on a bad argmax (backward)
	int32_t batch, h, w, c;
	int32_t size, stride, out_h, out_w;
} pool_params;

// gather_affine_f32: gather_f32 with every image resampled bilinearly
// through its affine map (nn.Backend.GatherAffine).
typedef struct {
	uint64_t x;      // float*, rows×height·width
	uint64_t y;      // int32*, rows
	uint64_t images; // uint8*, count×height·width
	uint64_t labels; // uint8*, count
	uint64_t order;  // int32*
	uint64_t affine; // float*, 6 per position of order
	uint64_t status; // uint32*, STATUS_AFFINE_INDEX is set on a bad index
	uint64_t hyper;  // replay_hyper*, or 0: start as given
	int32_t start, rows, height, width;
	int32_t count; // number of images: valid indices are [0, count)
	float scale, shift;
	int32_t unused; // keeps the size a multiple of 8 without hidden padding
} gather_affine_params;

// The fused MLP step (mlp.cu): the most linear layers and the widest layer
// (hidden or output) it takes; wider or deeper MLPs train op by op.
#define MLP_MAX_LAYERS 8
#define MLP_MAX_WIDTH 256
// Threads per block of every mlp kernel; mlp_rows_f32 has a warp more,
// which reads the row's label.
#define MLP_THREADS 256
#define MLP_ROWS_THREADS 288
// mlp_first_f32's output tile (MLP_TILE rows × MLP_TILE columns, one per
// thread) and the slice of the input dimension it stages in shared memory.
#define MLP_TILE 16
#define MLP_CHUNK 64
// mlp_update_f32's tiles of the first layer's weights: MLP_UPDATE_TILE rows
// × MLP_CHUNK columns (the tutorial's 64×784 in 8×13 = 104 blocks: one per
// SM on most GPUs, each with a small share of the step's longest work).
#define MLP_UPDATE_TILE 8

// The optimisers of the fused MLP step (mlp_params.optimizer).
enum {
	MLP_SGD = 0,
	MLP_ADAM = 1
};

// mlp_first_f32, mlp_rows_f32, mlp_update_f32: one training step of an MLP
// (nn.MLPStep) in three launches. The scratch at work holds, for this step's
// rows (laid out as mlp.cu says): the first layer's partial
// products (ksplit slices), every layer's output and its gradient, and each
// row's loss.
typedef struct {
	uint64_t params, grads; // float*: every parameter and its gradient (nn's layout)
	uint64_t m, v;          // float*: optimiser state as in optim_params (0 when unused)
	uint64_t hyper;         // replay_hyper*, or 0: lr and t as given here
	uint64_t images;        // uint8*, count×w0: the data set; 0 when x holds the batch
	uint64_t labels;        // uint8*, count
	uint64_t order;         // int32*: the visiting order; row r is image order[start+r]
	uint64_t x;             // float*, rows×w0: the gathered batch when images is 0
	uint64_t y;             // int32*, rows: its labels when images is 0
	uint64_t work;          // float*: the step's scratch
	uint64_t loss;          // float*, 1 element: the step's mean loss
	uint64_t status;        // uint32*: STATUS_GATHER_INDEX, STATUS_LABEL
	int32_t layers;         // linear layers, 1..MLP_MAX_LAYERS
	int32_t w0, w1, w2, w3, w4, w5, w6, w7, w8; // widths: inputs, then each layer's outputs
	int32_t rows, start, count;
	int32_t ksplit, kslice; // mlp_first_f32: the inputs in ksplit slices of kslice
	int32_t optimizer;      // MLP_SGD or MLP_ADAM
	int32_t nesterov, t;    // as in optim_params
	float scale, shift;     // as in gather_params
	float lr, momentum, weight_decay, beta1, beta2, eps; // as in optim_params
	// prepare: mlp_update_f32 also computes the first layer's partial sums
	// (as mlp_first_f32 does, with kslice = MLP_CHUNK) of the next batch,
	// the rows rows at start+rows of order, with the weights it has just
	// updated, so that the next step starts at mlp_rows_f32 (nn.MLPStep's
	// PrepareNext). Only with images.
	int32_t prepare;
	// pdl: mlp_rows_f32 and mlp_update_f32 first issue the loads that
	// nothing in the step before writes (the order, the labels, this and
	// the next batch's pixels, the optimiser state), then wait for the
	// kernel before (griddepcontrol.wait, where compiled for sm_90; a
	// no-op when not launched with programmatic dependent launch), then
	// the rest; 2: and then let the next kernel launch at once
	// (griddepcontrol.launch_dependents) rather than when they end. 0: as
	// before. The same results either way (mlp.cu, "programmatic
	// dependent launch").
	int32_t pdl;
} mlp_params;

#endif
