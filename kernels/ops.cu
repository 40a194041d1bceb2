// Element-wise, reduction, data and optimiser kernels for nn.Backend. Each
// kernel's comment gives its reference loop; the launch shape is chosen by
// package gpu (gpu/ops.go) and stated here.
#include "params.h"
#include "optim.h"
#include "replay.h"

// relu_f32: for i < n: x[i] = x[i] < 0 ? 0 : x[i]  (NaN stays NaN, as in PyTorch).
// Any 1-D grid of any block size; grid-stride loop over n, as the other
// elementwise kernels.
extern "C" __global__ void relu_f32(const eltwise_params p)
{
	float *x = (float *)p.x;
	const size_t n = (size_t)p.n;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		if (x[i] < 0.0f)
			x[i] = 0.0f;
}

// relu_backward_f32: for i < n: grad[i] = out[i] <= 0 ? 0 : grad[i].
extern "C" __global__ void relu_backward_f32(const eltwise_params p)
{
	float *grad = (float *)p.x;
	const float *out = (const float *)p.y;
	const size_t n = (size_t)p.n;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
		if (out[i] <= 0.0f)
			grad[i] = 0.0f;
}

// softmax_xent_f32: reference loop
//
//	total = 0
//	for r < rows:
//		mx = max_c logits[r,c];  s = Σ_c exp(logits[r,c] - mx)
//		total += log(s) + mx - logits[r, labels[r]]
//		if grad: grad[r,c] = (exp(logits[r,c] - mx)/s - (c == labels[r])) / rows
//	loss[0] = rows > 0 ? total / rows : 0
//
// Blocks of XENT_THREADS threads, one warp per row: block b's warp w takes
// rows (b + k·gridDim.x)·W + w, W = XENT_THREADS/32, so rows spread over
// the blocks (the host launches ceil(rows/W) blocks, at most
// XENT_MAX_BLOCKS). Each block writes the sum of its rows' losses, in warp
// order, to partials[b]; the block that finishes last (a counter in done,
// which it resets to 0) adds the partials in block order and writes the
// mean. So the sum's order depends on the grid alone, not on which block
// runs when: deterministic, no float atomics. A label outside [0, cols)
// sets STATUS_LABEL and makes the loss NaN.
extern "C" __global__ void __launch_bounds__(XENT_THREADS) softmax_xent_f32(const xent_params p)
{
	__shared__ float warp_total[XENT_THREADS / 32];
	__shared__ bool last;
	const float *logits = (const float *)p.logits;
	const int32_t *labels = (const int32_t *)p.labels;
	float *grad = (float *)p.grad;
	const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
	const int nwarps = blockDim.x / 32;
	const float inv_rows = 1.0f / (float)p.rows;
	float total = 0.0f; // meaningful in lane 0

	for (size_t r = (size_t)blockIdx.x * nwarps + warp; r < (size_t)p.rows; r += (size_t)gridDim.x * nwarps) {
		const float *row = logits + r * p.cols;
		float mx = -INFINITY;
		for (int c = lane; c < p.cols; c += 32)
			mx = fmaxf(mx, row[c]);
#pragma unroll
		for (int off = 16; off > 0; off /= 2)
			mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
		float s = 0.0f;
		for (int c = lane; c < p.cols; c += 32)
			s += expf(row[c] - mx);
#pragma unroll
		for (int off = 16; off > 0; off /= 2)
			s += __shfl_xor_sync(0xffffffffu, s, off);
		const int label = labels[r];
		const bool ok = label >= 0 && label < p.cols;
		if (lane == 0) {
			if (ok) {
				total += logf(s) + mx - row[label];
			} else {
				total = NAN;
				atomicOr((unsigned int *)p.status, (unsigned int)STATUS_LABEL);
			}
		}
		if (grad) {
			float *g = grad + r * p.cols;
			const float inv_s = 1.0f / s;
			for (int c = lane; c < p.cols; c += 32) {
				float v = expf(row[c] - mx) * inv_s;
				if (c == label)
					v -= 1.0f;
				g[c] = ok ? v * inv_rows : NAN;
			}
		}
	}
	if (lane == 0)
		warp_total[warp] = total;
	__syncthreads();
	if (threadIdx.x == 0) {
		float sum = 0.0f;
		for (int w = 0; w < nwarps; ++w)
			sum += warp_total[w];
		((float *)p.partials)[blockIdx.x] = sum;
		__threadfence(); // the partial is visible before the count says so
		last = atomicAdd((unsigned int *)p.done, 1u) == gridDim.x - 1;
	}
	__syncthreads();
	if (last && threadIdx.x == 0) {
		__threadfence(); // every block's partial is read after its count
		const volatile float *partials = (const volatile float *)p.partials;
		float sum = 0.0f;
		for (unsigned b = 0; b < gridDim.x; ++b)
			sum += partials[b];
		*replay_loss(p.hyper, p.loss) = p.rows > 0 ? sum * inv_rows : 0.0f;
		*(volatile unsigned int *)p.done = 0; // ready for the next launch
	}
}

#define COLSUM_COLS 32
#define COLSUM_ROWS 8

// column_sums_f32: for c < cols: dst[c] = Σ_r src[r,c].
// Blocks of COLSUM_COLS×COLSUM_ROWS threads, ceil(cols/COLSUM_COLS) blocks:
// thread (x, y) sums rows y, y+COLSUM_ROWS, ... of column x, then the
// partial sums are added in y order (deterministic).
extern "C" __global__ void __launch_bounds__(COLSUM_COLS * COLSUM_ROWS) column_sums_f32(const colsum_params p)
{
	__shared__ float part[COLSUM_ROWS][COLSUM_COLS];
	const float *src = (const float *)p.src;
	const int x = threadIdx.x % COLSUM_COLS, y = threadIdx.x / COLSUM_COLS;
	const int c = blockIdx.x * COLSUM_COLS + x;
	float s = 0.0f;
	if (c < p.cols)
		for (int r = y; r < p.rows; r += COLSUM_ROWS)
			s += src[(size_t)r * p.cols + c];
	part[y][x] = s;
	__syncthreads();
	if (y == 0 && c < p.cols) {
		float t = 0.0f;
#pragma unroll
		for (int i = 0; i < COLSUM_ROWS; ++i)
			t += part[i][x];
		((float *)p.dst)[c] = t;
	}
}

// argmax_f32: for r < rows: dst[r] = the first c with src[r,c] largest
// (a NaN is never largest unless it comes first); with labels, correct[0] +=
// the number of r with dst[r] == labels[r]. One thread per row.
extern "C" __global__ void argmax_f32(const argmax_params p)
{
	const size_t r = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (r >= (size_t)p.rows)
		return;
	const float *row = (const float *)p.src + (size_t)r * p.cols;
	int best = 0;
	float bv = row[0];
	for (int c = 1; c < p.cols; ++c) {
		const float v = row[c];
		if (v > bv) {
			bv = v;
			best = c;
		}
	}
	((int32_t *)p.dst)[r] = best;
	if (p.labels && ((const int32_t *)p.labels)[r] == best)
		atomicAdd((unsigned int *)p.correct, 1u);
}

// gather_f32: for r < rows, j < pixels, with i = order[start+r]:
//
//	x[r,j] = float(images[i·pixels+j])·scale + shift
//	y[r]   = int32(labels[i])
//
// Grid (ceil(pixels/blockDim.x), rows). An index outside [0, count) sets
// STATUS_GATHER_INDEX and writes NaN pixels and label -1 for that row.
extern "C" __global__ void gather_f32(const gather_params p)
{
	const int r = blockIdx.y;
	const size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	const int i = ((const int32_t *)p.order)[replay_start(p.hyper, p.start) + r];
	const bool ok = i >= 0 && i < p.count;
	if (j < (size_t)p.pixels) {
		const uint8_t *img = (const uint8_t *)p.images + (size_t)(ok ? i : 0) * p.pixels;
		((float *)p.x)[(size_t)r * p.pixels + j] = ok ? fmaf((float)img[j], p.scale, p.shift) : NAN;
	}
	if (j == 0) {
		((int32_t *)p.y)[r] = ok ? (int32_t)((const uint8_t *)p.labels)[i] : -1;
		if (!ok)
			atomicOr((unsigned int *)p.status, (unsigned int)STATUS_GATHER_INDEX);
	}
}

// sgd_f32: for i < n, sgd_update (optim.h) of params[i] from grads[i] with
// velocity p.m[i], as torch.optim.SGD.
extern "C" __global__ void sgd_f32(const optim_params p)
{
	float *w = (float *)p.params;
	const float *grads = (const float *)p.grads;
	float *vel = (float *)p.m;
	float lr;
	int t;
	optim_lr_t(p.hyper, p.lr, p.t, lr, t);
	const size_t n = (size_t)p.n;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float wi = w[i], vi = p.momentum != 0.0f ? vel[i] : 0.0f;
		sgd_update(wi, grads[i], vi, lr, p.momentum, p.weight_decay, p.nesterov);
		w[i] = wi;
		if (p.momentum != 0.0f)
			vel[i] = vi;
	}
}

// adam_f32: for i < n, adam_update (optim.h) of params[i] from grads[i]
// with moments p.m[i], p.v[i], as torch.optim.Adam.
extern "C" __global__ void adam_f32(const optim_params p)
{
	float *w = (float *)p.params;
	const float *grads = (const float *)p.grads;
	float *m1 = (float *)p.m;
	float *m2 = (float *)p.v;
	float lr, step_size, bias_corr2_sqrt;
	int t;
	optim_lr_t(p.hyper, p.lr, p.t, lr, t);
	adam_factors(lr, t, p.beta1, p.beta2, step_size, bias_corr2_sqrt);
	const size_t n = (size_t)p.n;
	for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
		float wi = w[i], mi = m1[i], vi = m2[i];
		adam_update(wi, grads[i], mi, vi, step_size, bias_corr2_sqrt, p.beta1, p.beta2, p.eps, p.weight_decay);
		w[i] = wi;
		m1[i] = mi;
		m2[i] = vi;
	}
}
