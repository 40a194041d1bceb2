// The fused training step of an MLP (nn.MLPStep): the same computation as
// the op sequence gather, (linear, ReLU)*, linear, softmax cross-entropy,
// the backward pass and the optimiser's update (ops.cu, gemm.cu), in three
// launches instead of about fourteen, two when steps chain:
//
//	mlp_first_f32   gathers the batch and multiplies it by the first
//	                layer's weights: partial sums over ksplit slices of
//	                MLP_CHUNK inputs, so that enough blocks share the
//	                largest product
//	mlp_rows_f32    one block per row: sums the partials, adds the bias,
//	                runs the other layers, the loss and its gradient, and
//	                the backward pass down to the first layer's output
//	mlp_update_f32  every parameter's gradient (a sum over the rows; the
//	                first layer's weights in tiles, the others a thread
//	                each) and the optimiser's update of it; the step's mean
//	                loss; and with prepare, the next batch's partial sums
//	                from the updated weights, in mlp_first_f32's slices, so
//	                that the next step starts at mlp_rows_f32
//
// Nothing is accumulated with atomics: every sum runs in a fixed order, so
// a step gives the same result every time and in every block order, and a
// chained step the same bits as one that ran mlp_first_f32.
//
// Latency, not arithmetic, is what a step of this size costs: a GPU issues
// a warp's instructions in order, so a loop whose every iteration loads and
// then uses the value waits one memory round trip (~0.3 µs from L2) per
// iteration; 64 of them made the first version's update kernel 20 µs on an
// H200. So every loop over global memory here loads a batch of values into
// registers first (unconditionally, from a clamped address, the unwanted
// ones then replaced by a select: no branch between the loads), then uses
// them; a chain of dependent loads (the replay's position, the order
// entry, the label) runs in a warp that nothing else waits for; and what a
// loop over the layers needs is computed once per block (mlp_layer_table),
// not per phase: with everything else equal, instructions issued one
// after another are the time (bench/RESULTS.md, "the fused MLP step, session 3").
//
// Programmatic dependent launch (Hopper; mlp_params.pdl): a kernel
// launched with it may start while the kernel before it in the stream
// still runs, and griddepcontrol.wait then blocks until that kernel has
// finished and its writes are visible. So, with pdl, mlp_rows_f32 and
// mlp_update_f32 issue before the wait only loads of what no kernel of the
// step before writes (the order and the labels, this and the next batch's
// pixels, the optimiser state, which only mlp_update_f32 writes and whose
// previous launch has finished once the mlp_rows_f32 between them has
// waited) and write nothing to global memory but the sticky status bits;
// everything else follows the wait. The instructions exist only in code
// compiled for sm_90 (the timing harness's); elsewhere mlp_grid_wait is
// empty and pdl only moves those loads first.
//
// Shapes, with B = rows, w[0] the inputs and w[l] the outputs of linear
// layer l = 1..L (W_l is w[l]×w[l-1], row-major, then b_l, in params):
//
//	A_0 = X (B×w[0]);  A_l = relu(A_{l-1}·W_lᵀ + b_l)  (no ReLU for l = L)
//	D_L = (softmax(A_L) - onehot(y)) / B
//	D_{l-1} = (D_l·W_l) where A_{l-1} > 0, else 0
//	dW_l = D_lᵀ·A_{l-1};  db_l = Σ_rows D_l
#include "params.h"
#include "optim.h"
#include "replay.h"

// mlp_grid_wait waits for the kernel before to finish (see "programmatic
// dependent launch" above) and, with p.pdl > 1, lets the next kernel be
// launched now rather than when this one ends.
__device__ __forceinline__ void mlp_grid_wait(const mlp_params &p)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
	asm volatile("griddepcontrol.wait;" ::: "memory");
	if (p.pdl > 1)
		asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#elif defined(MNIST_CUDA_EMU_H)
	emu_grid_wait(); // the emulator checks what comes before it
#endif
}

// mlp_widths copies the widths out of the parameter struct. (The timing
// harness bench/cuda/mlpstep.cu can define MLP_FIXED_WIDTHS, the layers
// and then the widths, to measure what general widths cost against
// compile-time ones.)
__device__ __forceinline__ void mlp_widths(const mlp_params &p, int w[MLP_MAX_LAYERS + 1])
{
#ifdef MLP_FIXED_WIDTHS
	const int fixed[] = {MLP_FIXED_WIDTHS, 0, 0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll
	for (int i = 0; i <= MLP_MAX_LAYERS; ++i)
		w[i] = fixed[i + 1];
	return;
#endif
	w[0] = p.w0;
	w[1] = p.w1;
	w[2] = p.w2;
	w[3] = p.w3;
	w[4] = p.w4;
	w[5] = p.w5;
	w[6] = p.w6;
	w[7] = p.w7;
	w[8] = p.w8;
}

// mlp_layers returns the number of linear layers.
__device__ __forceinline__ int mlp_layers(const mlp_params &p)
{
#ifdef MLP_FIXED_WIDTHS
	const int fixed[] = {MLP_FIXED_WIDTHS};
	return fixed[0];
#endif
	return p.layers;
}

// The scratch, in floats from p.work, for B rows (the host sizes it the
// same way, gpu/mlp.go):
//
//	part[z][r][j]  z < ksplit, r < B, j < w[1]: mlp_first_f32's partial sums
//	A_l            l = 1..L, B×w[l], one after the other
//	D_l            l = 1..L, B×w[l], one after the other
//	loss[r]        r < B: each row's loss
//	index[r]       r < B: the order entry (int32) of row r, or -1 for one
//	               outside the data set: mlp_rows_f32's label warp notes
//	               them, mlp_update_f32 reads them (one round trip where the
//	               order costs two, the replay's position and the entry)
//
// The widths live in registers: every loop over them is unrolled with
// compile-time indices (a run-time index would put them in local memory).
__device__ __forceinline__ size_t mlp_acts_offset(const mlp_params &p, const int w[], int l)
{
	size_t off = (size_t)p.ksplit * p.rows * w[1];
#pragma unroll
	for (int i = 1; i <= MLP_MAX_LAYERS; ++i)
		if (i < l)
			off += (size_t)p.rows * w[i];
	return off;
}

// mlp_width returns w[l] for a run-time l, the array kept in registers.
__device__ __forceinline__ int mlp_width(const int w[], int l)
{
	int v = 0;
#pragma unroll
	for (int i = 0; i <= MLP_MAX_LAYERS; ++i)
		if (i == l)
			v = w[i];
	return v;
}

__device__ __forceinline__ size_t mlp_grads_offset(const mlp_params &p, const int w[], int l)
{
	return mlp_acts_offset(p, w, mlp_layers(p) + 1) + mlp_acts_offset(p, w, l) - mlp_acts_offset(p, w, 1);
}

__device__ __forceinline__ size_t mlp_rowloss_offset(const mlp_params &p, const int w[])
{
	return mlp_grads_offset(p, w, mlp_layers(p) + 1);
}

__device__ __forceinline__ size_t mlp_index_offset(const mlp_params &p, const int w[])
{
	return mlp_rowloss_offset(p, w) + p.rows;
}

// mlp_weights_offset returns where W_l starts in params; b_l follows it.
__device__ __forceinline__ size_t mlp_weights_offset(const int w[], int l)
{
	size_t off = 0;
#pragma unroll
	for (int i = 1; i <= MLP_MAX_LAYERS; ++i)
		if (i < l)
			off += (size_t)w[i] * w[i - 1] + w[i];
	return off;
}

// mlp_layer is where layer l's operands are, for a loop over the layers
// with a run-time l: computed once per block by mlp_layer_table, read from
// shared memory in each phase (from the widths in registers, every offset
// is a loop over the layers, some hundred instructions).
struct mlp_layer {
	int in, n;        // w[l-1], w[l]
	long long woff;   // W_l in params (b_l follows it)
	long long aoff;   // A_l in the scratch
	long long goff;   // D_l in the scratch
};

// mlp_layer_table fills t[l] for l = 1..L, thread l doing layer l, and
// t[0].aoff with the row losses' offset; the caller syncs the block before
// reading it.
__device__ __forceinline__ void mlp_layer_table(const mlp_params &p, const int w[], mlp_layer *t)
{
	const int l = threadIdx.x;
	if (l == 0)
		t[0].aoff = (long long)mlp_rowloss_offset(p, w);
	else if (l <= mlp_layers(p)) {
		t[l].in = mlp_width(w, l - 1);
		t[l].n = mlp_width(w, l);
		t[l].woff = (long long)mlp_weights_offset(w, l);
		t[l].aoff = (long long)mlp_acts_offset(p, w, l);
		t[l].goff = (long long)mlp_grads_offset(p, w, l);
	}
}

// mlp_order_index returns the order entry of row r of the batch (at
// start+r; past the batch, the next one's), or -1 when it is outside the
// data set (STATUS_GATHER_INDEX).
__device__ __forceinline__ int mlp_order_index(const mlp_params &p, int r)
{
	const int i = ((const int32_t *)p.order)[replay_start(p.hyper, p.start) + r];
	return i < 0 || i >= p.count ? -1 : i;
}

// mlp_image returns where row r's image starts in p.images (or in p.x when
// the batch is gathered already), or -1 when its order entry is outside
// the data set.
__device__ __forceinline__ long long mlp_image(const mlp_params &p, int r)
{
	if (!p.images)
		return (long long)r * p.w0;
	const int i = mlp_order_index(p, r);
	return i < 0 ? -1 : (long long)i * p.w0;
}

// mlp_image_noted is mlp_image for row r < B from the order entries
// mlp_rows_f32 noted in the scratch.
__device__ __forceinline__ long long mlp_image_noted(const mlp_params &p, const int w[], int r)
{
	if (!p.images)
		return (long long)r * p.w0;
	const int i = ((const int32_t *)p.work)[mlp_index_offset(p, w) + r];
	return i < 0 ? -1 : (long long)i * p.w0;
}

// Loads issued together before their values are used (see above); the
// update kernel's sums over the rows take twice as many at a time.
#define MLP_BATCH 16
#define MLP_UPDATE_BATCH 32
// mlp_rows_f32's loads of the first layer's partial sums: a group of lanes
// shares the slices, a few each (the tutorial's 13 slices, 4 lanes).
#define MLP_PART_BATCH 4
// mlp_rows_f32 copies the parameters of layers 2..L to shared memory when
// there are at most this many (the tutorial's: 2,410).
#define MLP_ROWS_SMEM 4096

// mlp_input returns X[r,k] from the image mlp_image found (NaN for a bad
// one), without a branch: the load always happens, from the data's first
// element when the image is bad.
__device__ __forceinline__ float mlp_input(const mlp_params &p, long long image, int k)
{
	const long long at = image < 0 ? 0 : image + k;
	const float v = p.images ? fmaf((float)((const uint8_t *)p.images)[at], p.scale, p.shift) : ((const float *)p.x)[at];
	return image < 0 ? NAN : v;
}

// mlp_first_f32: for r < B, j < w[1], z < ksplit, with K_z the inputs
// [z·kslice, min((z+1)·kslice, w[0])):
//
//	part[z][r][j] = Σ_{k in K_z} X[r,k]·W_1[j,k]
//
// Grid (ceil(w[1]/MLP_TILE), ceil(B/MLP_TILE), ksplit), MLP_THREADS threads:
// thread (tx, ty) of block (bx, by, z) computes row by·16+ty, column
// bx·16+tx of slice z, staging MLP_CHUNK inputs of the 16 rows and the 16
// weight rows in shared memory at a time. A bad order entry sets
// STATUS_GATHER_INDEX, and its row is NaN.
extern "C" __global__ void __launch_bounds__(MLP_THREADS, 4) mlp_first_f32(const mlp_params p)
{
	__shared__ float xs[MLP_TILE][MLP_CHUNK + 1];
	__shared__ float ws[MLP_TILE][MLP_CHUNK + 1];
	__shared__ long long image[MLP_TILE];
	const int tx = threadIdx.x % MLP_TILE, ty = threadIdx.x / MLP_TILE;
	const int j0 = blockIdx.x * MLP_TILE, r0 = blockIdx.y * MLP_TILE;
	const int inputs = p.w0, outputs = p.w1;
	const int k_begin = blockIdx.z * p.kslice;
	const int k_end = k_begin + p.kslice < inputs ? k_begin + p.kslice : inputs;
	const float *W = (const float *)p.params; // W_1 comes first
	if (p.pdl)
		mlp_grid_wait(p);
	if (threadIdx.x < MLP_TILE) {
		const int r = r0 + threadIdx.x;
		long long img = -2; // past the batch: zeros
		if (r < p.rows) {
			img = mlp_image(p, r);
			if (img < 0 && blockIdx.x == 0 && blockIdx.z == 0)
				atomicOr((unsigned int *)p.status, (unsigned int)STATUS_GATHER_INDEX);
		}
		image[threadIdx.x] = img;
	}
	__syncthreads();
	float acc = 0.0f;
	for (int kc = k_begin; kc < k_end; kc += MLP_CHUNK) {
		float xv[MLP_TILE * MLP_CHUNK / MLP_THREADS], wv[MLP_TILE * MLP_CHUNK / MLP_THREADS];
#pragma unroll
		for (int q = 0; q < MLP_TILE * MLP_CHUNK / MLP_THREADS; ++q) {
			const int e = threadIdx.x + q * MLP_THREADS;
			const int rr = e / MLP_CHUNK, kk = e % MLP_CHUNK, k = kc + kk, j = j0 + rr;
			const bool kin = k < k_end;
			xv[q] = mlp_input(p, image[rr] == -2 ? 0 : image[rr], kin ? k : 0);
			xv[q] = kin && image[rr] != -2 ? xv[q] : 0.0f;
			wv[q] = W[kin && j < outputs ? (size_t)j * inputs + k : 0];
			wv[q] = kin && j < outputs ? wv[q] : 0.0f;
		}
#pragma unroll
		for (int q = 0; q < MLP_TILE * MLP_CHUNK / MLP_THREADS; ++q) {
			const int e = threadIdx.x + q * MLP_THREADS;
			xs[e / MLP_CHUNK][e % MLP_CHUNK] = xv[q];
			ws[e / MLP_CHUNK][e % MLP_CHUNK] = wv[q];
		}
		__syncthreads();
#pragma unroll 16
		for (int kk = 0; kk < MLP_CHUNK; ++kk)
			acc = fmaf(xs[ty][kk], ws[tx][kk], acc);
		__syncthreads();
	}
	const int r = r0 + ty, j = j0 + tx;
	if (r < p.rows && j < outputs)
		((float *)p.work)[((size_t)blockIdx.z * p.rows + r) * outputs + j] = acc;
}

// mlp_group returns the threads that share one output of a matrix-vector
// product of n outputs in an MLP_THREADS block: a power of two, at most a
// warp, as many as keep every thread busy.
__device__ __forceinline__ int mlp_group(int n)
{
	int g = 1;
	while (g < 32 && g * 2 * n <= MLP_THREADS)
		g *= 2;
	return g;
}

// mlp_group_sum adds s over the g lanes of a group (g a power of two ≤ 32,
// groups aligned in the warp). Every lane of the warp must call it.
__device__ __forceinline__ float mlp_group_sum(float s, int g)
{
	for (int off = g / 2; off > 0; off /= 2)
		s += __shfl_xor_sync(0xffffffffu, s, off);
	return s;
}

// mlp_dot_shared returns Σ x[i]·W[i·stride] over i = lane, lane+g, ... <
// count, added in that order, for W in shared memory: a plain loop (no
// load waits long there). A row of W_l (stride 1) times the layer's input
// in the forward pass, a column (stride w[l-1]) times D_l backward.
__device__ __forceinline__ float mlp_dot_shared(const float *W, int stride, const float *x, int count, int lane, int g)
{
	float s = 0.0f;
#pragma unroll 4
	for (int i = lane; i < count; i += g)
		s = fmaf(x[i], W[i * stride], s);
	return s;
}

// mlp_dot_global is mlp_dot_shared for W in global memory: the same sum in
// the same order, its loads issued MLP_BATCH at a time before their use.
__device__ __forceinline__ float mlp_dot_global(const float *W, int stride, const float *x, int count, int lane, int g)
{
	float s = 0.0f;
	for (int i0 = lane; i0 < count; i0 += MLP_BATCH * g) {
		float v[MLP_BATCH];
#pragma unroll
		for (int q = 0; q < MLP_BATCH; ++q) {
			const int i = i0 + q * g;
			v[q] = W[(size_t)(i < count ? i : 0) * stride];
		}
#pragma unroll
		for (int q = 0; q < MLP_BATCH; ++q)
			if (i0 + q * g < count)
				s = fmaf(x[i0 + q * g], v[q], s);
	}
	return s;
}

// mlp_warp_sync orders one warp's shared-memory writes before its reads
// (the emulator's warps meet at a shuffle).
__device__ __forceinline__ void mlp_warp_sync()
{
#ifdef __CUDA_ARCH__
	__syncwarp();
#else
	(void)__shfl_xor_sync(0xffffffffu, 0.0f, 0);
#endif
}

// mlp_warp_logits: in one warp, lane c < n computes the last layer's output
// c, Σ_k a[k]·W[c,k] + b[c] (W in shared memory, n×in, b after it), into
// logits[c] and out[c]. Lane c starts its sum at input c mod in, so that
// the lanes read different banks of a row-major W whose width is a
// multiple of 32.
__device__ __forceinline__ void mlp_warp_logits(const float *W, const float *a, int in, int n, float *logits, float *out)
{
	const int c = threadIdx.x % 32;
	if (c >= n)
		return;
	const float *Wc = W + c * in;
	float s = 0.0f;
	int k = c % in;
#pragma unroll 4
	for (int t = 0; t < in; ++t) {
		s = fmaf(a[k], Wc[k], s);
		k = k + 1 == in ? 0 : k + 1;
	}
	s += W[n * in + c];
	logits[c] = s;
	out[c] = s;
}

// mlp_rows_f32: for row r = blockIdx.x < B (grid B, MLP_ROWS_THREADS
// threads: MLP_THREADS that compute and a warp that reads the label):
//
//	A_1[r,j] = relu(Σ_z part[z][r][j] + b_1[j])       (no ReLU when L = 1)
//	A_l[r,:] = relu(A_{l-1}[r,:]·W_lᵀ + b_l)           l = 2..L, no ReLU for l = L
//	loss[r]  = log Σ_c exp(A_L[r,c] - mx) + mx - A_L[r,y_r]   (mx = max_c A_L[r,c])
//	D_L[r,c] = (exp(A_L[r,c] - mx)/Σ - (c == y_r)) / B
//	D_{l-1}[r,k] = A_{l-1}[r,k] > 0 ? Σ_j D_l[r,j]·W_l[j,k] : 0     l = L..2
//
// The row's activations stay in shared memory; A_l and D_l are also written
// to the scratch for mlp_update_f32. The parameters of layers 2..L are
// copied to shared memory first when there are at most MLP_ROWS_SMEM of
// them. Each output of a product is summed by a group of lanes (mlp_group),
// each lane a strided part, then the group's lanes are added pairwise. A
// label outside [0, w[L]) sets STATUS_LABEL and makes the row's loss and
// gradient NaN.
extern "C" __global__ void __launch_bounds__(MLP_ROWS_THREADS, 2) mlp_rows_f32(const mlp_params p)
{
	__shared__ float act[MLP_MAX_LAYERS][MLP_MAX_WIDTH];
	__shared__ float grad[2][MLP_MAX_WIDTH];
	int w[MLP_MAX_LAYERS + 1];
	mlp_widths(p, w);
	__shared__ int label_s;
	__shared__ long long image_s;
	const int L = mlp_layers(p), r = blockIdx.x, tid = threadIdx.x;
	const bool worker = tid < MLP_THREADS; // the last warp only reads the label
	const float *params = (const float *)p.params;
	float *work = (float *)p.work;

	__shared__ mlp_layer lt[MLP_MAX_LAYERS + 1];
	mlp_layer_table(p, w, lt);

	// The row's label: read by a warp of its own, the last, while the
	// others run the forward pass (a warp issues in order, so the worker
	// that waited for these dependent loads, the replay's position, the
	// order entry, the label, would hold every barrier up). Its order
	// entry is noted in the scratch for mlp_update_f32.
	// With pdl, its loads from the data set come before the wait, the
	// note and a gathered batch's label (written by the kernel before)
	// after it.
	long long img = -1;
	int label = -1;
	if (tid == MLP_THREADS) {
		img = mlp_image(p, r);
		if (p.images && img >= 0)
			label = ((const uint8_t *)p.labels)[img / p.w0];
	}
	if (p.pdl)
		mlp_grid_wait(p);
	if (tid == MLP_THREADS) {
		if (!p.images)
			label = ((const int32_t *)p.y)[r];
		image_s = img;
		label_s = img < 0 ? -1 : label;
		if (p.images)
			((int32_t *)work)[mlp_index_offset(p, w) + r] = img < 0 ? -1 : (int)(img / p.w0);
	}

	// The parameters of layers 2..L, when they fit, go to shared memory:
	// their loads are issued now, with the first layer's, and stored after
	// it, instead of costing a round trip in every layer.
	__shared__ float tail_s[MLP_ROWS_SMEM];
	const size_t tail0 = mlp_weights_offset(w, 2);
	const int tail = (int)(mlp_weights_offset(w, L + 1) - tail0);
	const bool staged = L > 1 && tail <= MLP_ROWS_SMEM;
	float tv[MLP_ROWS_SMEM / MLP_THREADS];
	if (staged && worker) {
#pragma unroll
		for (int q = 0; q < MLP_ROWS_SMEM / MLP_THREADS; ++q) {
			const int e = tid + q * MLP_THREADS;
			tv[q] = params[tail0 + (e < tail ? e : 0)];
		}
	}

	// The first layer: the partial sums (each output's slices split over a
	// group of lanes, then added pairwise), the bias, the ReLU.
	{
		const int n = w[1];
		const float *bias = params + (size_t)w[1] * w[0];
		float *out = work + mlp_acts_offset(p, w, 1) + (size_t)r * n;
		const int g = mlp_group(n), lane = tid % g, per = MLP_THREADS / g;
		for (int j0 = 0; worker && j0 < n; j0 += per) {
			const int j = j0 + tid / g;
			float s = 0.0f;
			if (j < n) {
				for (int z0 = lane; z0 < p.ksplit; z0 += MLP_PART_BATCH * g) {
					float v[MLP_PART_BATCH];
#pragma unroll
					for (int q = 0; q < MLP_PART_BATCH; ++q) {
						const int z = z0 + q * g;
						v[q] = work[((size_t)(z < p.ksplit ? z : 0) * p.rows + r) * n + j];
					}
#pragma unroll
					for (int q = 0; q < MLP_PART_BATCH; ++q)
						if (z0 + q * g < p.ksplit)
							s += v[q];
				}
			}
			s = mlp_group_sum(s, g);
			if (j < n && lane == 0) {
				s += bias[j];
				if (L > 1 && s < 0.0f)
					s = 0.0f;
				act[0][j] = s;
				out[j] = s;
			}
		}
	}
	if (staged && worker) {
#pragma unroll
		for (int q = 0; q < MLP_ROWS_SMEM / MLP_THREADS; ++q)
			if (tid + q * MLP_THREADS < tail)
				tail_s[tid + q * MLP_THREADS] = tv[q];
	}
	__syncthreads();

	// A last layer of at most 32 outputs (a classifier's), with its weights
	// in shared memory, runs in the loss's warp: a lane an output, so that
	// the logits, the loss and D_L need no barrier between them; and when
	// its inputs are at most 32 too, D_{L-1} as well (a lane an input).
	const bool warp_last = staged && lt[L].n <= 32, warp_back = warp_last && lt[L].in <= 32;

	// The other layers, forward: each output a dot product of a row of W_l
	// with the layer's input (mlp_dot_shared when the weights are staged,
	// mlp_dot_global otherwise: the same sum either way).
	for (int l = 2; l <= (warp_last ? L - 1 : L); ++l) {
		const int in = lt[l].in, n = lt[l].n;
		const size_t woff = lt[l].woff;
		const float *a = act[l - 2];
		float *out = work + lt[l].aoff + (size_t)r * n;
		const int g = mlp_group(n), lane = tid % g, per = MLP_THREADS / g;
		for (int j0 = 0; worker && j0 < n; j0 += per) {
			const int j = j0 + tid / g;
			float s = 0.0f;
			if (j < n && staged)
				s = mlp_dot_shared(tail_s + (int)(woff - tail0) + j * in, 1, a, in, lane, g);
			else if (j < n)
				s = mlp_dot_global(params + woff + (size_t)j * in, 1, a, in, lane, g);
			s = mlp_group_sum(s, g);
			if (j < n && lane == 0) {
				s += staged ? tail_s[(int)(woff - tail0) + n * in + j] : params[woff + (size_t)n * in + j];
				if (l < L && s < 0.0f)
					s = 0.0f;
				act[l - 1][j] = s;
				out[j] = s;
			}
		}
		__syncthreads();
	}

	// The loss and its gradient: one warp, as softmax_xent_f32 does a row
	// (with warp_last, from logits it computes itself, a lane each).
	int cur = 0; // grad[cur] holds D_l[r,:] of the layer being differentiated
	if (tid < 32) {
		const int n = lt[L].n, lane = tid;
		const float *logits = act[L - 1];
		float *dout = work + lt[L].goff + (size_t)r * n;
		if (warp_last) {
			mlp_warp_logits(tail_s + (int)(lt[L].woff - tail0), act[L - 2], lt[L].in, n,
			                act[L - 1], work + lt[L].aoff + (size_t)r * n);
			mlp_warp_sync();
		}
		float mx = -INFINITY;
		for (int c = lane; c < n; c += 32)
			mx = fmaxf(mx, logits[c]);
#pragma unroll
		for (int off = 16; off > 0; off /= 2)
			mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
		float s = 0.0f;
		for (int c = lane; c < n; c += 32)
			s += expf(logits[c] - mx);
#pragma unroll
		for (int off = 16; off > 0; off /= 2)
			s += __shfl_xor_sync(0xffffffffu, s, off);
		const int label = label_s;
		const long long img = image_s;
		const bool ok = label >= 0 && label < n;
		if (lane == 0) {
			work[lt[0].aoff + r] = ok ? logf(s) + mx - logits[label] : NAN;
			if (!ok && img >= 0)
				atomicOr((unsigned int *)p.status, (unsigned int)STATUS_LABEL);
		}
		const float inv_s = 1.0f / s, inv_rows = 1.0f / (float)p.rows;
		float mine = 0.0f; // D_L[lane] (lane < n ≤ 32 with warp_back)
		for (int c = lane; c < n; c += 32) {
			float v = expf(logits[c] - mx) * inv_s;
			if (c == label)
				v -= 1.0f;
			v = ok ? v * inv_rows : NAN;
			grad[cur][c] = v;
			dout[c] = v;
			mine = v;
		}
		if (warp_back) {
			// D_{L-1}[k] = Σ_j D_L[j]·W_L[j,k], masked: lane k, D_L[j]
			// from lane j's register.
			const int in = lt[L].in;
			const float *W = tail_s + (int)(lt[L].woff - tail0);
			float d = 0.0f;
			for (int j = 0; j < n; ++j) {
				const float dj = __shfl_sync(0xffffffffu, mine, j);
				if (lane < in)
					d = fmaf(dj, W[j * in + lane], d);
			}
			if (lane < in) {
				if (!(act[L - 2][lane] > 0.0f))
					d = 0.0f;
				grad[1 - cur][lane] = d;
				work[lt[L - 1].goff + (size_t)r * in + lane] = d;
			}
		}
	}
	if (warp_back)
		cur = 1 - cur;
	__syncthreads();

	// Backward: D_{l-1} = (D_l·W_l) masked by A_{l-1} > 0 (weights read
	// as in the forward pass).
	for (int l = warp_back ? L - 1 : L; l >= 2; --l) {
		const int in = lt[l].in, n = lt[l].n;
		const size_t woff = lt[l].woff;
		const float *d = grad[cur];
		float *dout = work + lt[l - 1].goff + (size_t)r * in;
		const int g = mlp_group(in), lane = tid % g, per = MLP_THREADS / g;
		for (int k0 = 0; worker && k0 < in; k0 += per) {
			const int k = k0 + tid / g;
			float s = 0.0f;
			if (k < in && staged)
				s = mlp_dot_shared(tail_s + (int)(woff - tail0) + k, in, d, n, lane, g);
			else if (k < in)
				s = mlp_dot_global(params + woff + k, in, d, n, lane, g);
			s = mlp_group_sum(s, g);
			if (k < in && lane == 0) {
				if (!(act[l - 2][k] > 0.0f))
					s = 0.0f;
				grad[1 - cur][k] = s;
				dout[k] = s;
			}
		}
		cur = 1 - cur;
		__syncthreads();
	}
}

// mlp_update_blocks: the first MLP_UPDATE_TILE×MLP_CHUNK tiles of W_1 (tiles_k of
// them across a row of tiles), then one block per MLP_THREADS of the other
// parameters, then one for the mean loss (gpu/mlp.go launches as many).
__device__ __forceinline__ void mlp_update_tiles(const int w[], int &tiles_k, int &tiles)
{
	tiles_k = (w[0] + MLP_CHUNK - 1) / MLP_CHUNK;
	tiles = (w[1] + MLP_UPDATE_TILE - 1) / MLP_UPDATE_TILE * tiles_k;
}

// mlp_optimise applies the optimiser to parameter i, whose gradient is g,
// with the parameter and its state already loaded (pv, mv, vv): it writes
// grads[i], params[i] and the state, and returns the new parameter.
__device__ __forceinline__ float mlp_optimise(const mlp_params &p, size_t i, float g, float pv, float mv, float vv, float lr, int t)
{
	((float *)p.grads)[i] = g;
	if (p.optimizer == MLP_ADAM) {
		float step_size, bias_corr2_sqrt;
		adam_factors(lr, t, p.beta1, p.beta2, step_size, bias_corr2_sqrt);
		adam_update(pv, g, mv, vv, step_size, bias_corr2_sqrt, p.beta1, p.beta2, p.eps, p.weight_decay);
		((float *)p.m)[i] = mv;
		((float *)p.v)[i] = vv;
	} else {
		sgd_update(pv, g, mv, lr, p.momentum, p.weight_decay, p.nesterov);
		if (p.m)
			((float *)p.m)[i] = mv;
	}
	((float *)p.params)[i] = pv;
	return pv;
}

// mlp_state loads parameter i and its optimiser state (0 where absent).
__device__ __forceinline__ void mlp_state(const mlp_params &p, size_t i, float &pv, float &mv, float &vv)
{
	pv = ((const float *)p.params)[i];
	mv = p.m ? ((const float *)p.m)[i] : 0.0f;
	vv = p.v ? ((const float *)p.v)[i] : 0.0f;
}

// mlp_next_image is mlp_image for row r of the next batch (mlp_params
// .prepare), setting STATUS_GATHER_INDEX for a bad order entry when flag.
__device__ __forceinline__ long long mlp_next_image(const mlp_params &p, int r, bool flag)
{
	const long long img = mlp_image(p, p.rows + r);
	if (img < 0 && flag)
		atomicOr((unsigned int *)p.status, (unsigned int)STATUS_GATHER_INDEX);
	return img;
}

// mlp_tile_inputs loads this thread's share of a tile of the batch: rows
// [0, chunk) of image (their images' starts), the MLP_CHUNK inputs from
// k0; element q is row e / MLP_CHUNK, input k0 + e % MLP_CHUNK for e = tid
// + q·MLP_THREADS, 0 outside the rows and the inputs.
__device__ __forceinline__ void mlp_tile_inputs(const mlp_params &p, const long long image[], int chunk, int k0,
                                                float xv[MLP_CHUNK * MLP_CHUNK / MLP_THREADS])
{
#pragma unroll
	for (int q = 0; q < MLP_CHUNK * MLP_CHUNK / MLP_THREADS; ++q) {
		const int e = threadIdx.x + q * MLP_THREADS, rr = e / MLP_CHUNK, kk = k0 + e % MLP_CHUNK;
		const bool ok = rr < chunk && kk < p.w0;
		xv[q] = mlp_input(p, ok ? image[rr] : 0, ok ? kk : 0);
		xv[q] = ok ? xv[q] : 0.0f;
	}
}

// mlp_update_f32: every parameter's gradient and the optimiser's update of
// it; and the step's mean loss. For W_l[j,k] and b_l[j]:
//
//	grads = Σ_r D_l[r,j]·A_{l-1}[r,k]    (A_0 = X, gathered again)
//	grads = Σ_r D_l[r,j]
//
// then the optimiser's update (optim.h) of the parameter from its gradient.
// W_1, the product of the batch with D_1, is computed in tiles: block b <
// tiles covers MLP_UPDATE_TILE rows j and MLP_CHUNK columns k of it,
// staging MLP_CHUNK rows of the batch's pixels and of D_1 in shared memory
// at a time, each thread MLP_UPDATE_TILE·MLP_CHUNK/MLP_THREADS rows j of
// one column k. The blocks after the tiles
// take the other parameters (b_1, then the layers after the first), one
// thread each. Each thread loads its parameters and their optimiser state
// first, so that those loads overlap the sums. The last block writes the
// mean loss, Σ_r loss[r] / B.
extern "C" __global__ void __launch_bounds__(MLP_THREADS, 1) mlp_update_f32(const mlp_params p)
{
	__shared__ long long image[MLP_CHUNK], image_next[MLP_CHUNK];
	// Rows of MLP_CHUNK + 4 floats: 16-byte aligned for float4 reads, and
	// the next row 4 banks on.
	alignas(16) __shared__ float xs[MLP_CHUNK][MLP_CHUNK + 4]; // [row][k]
	__shared__ float ds[MLP_CHUNK][MLP_UPDATE_TILE + 1];        // [row][j]
	__shared__ float part[MLP_THREADS];
	int w[MLP_MAX_LAYERS + 1];
	mlp_widths(p, w);
	const int tid = threadIdx.x;
	const float *work = (const float *)p.work;
	float lr;
	int t;
	optim_lr_t(p.hyper, p.lr, p.t, lr, t);
	if (blockIdx.x == gridDim.x - 1) {
		if (p.pdl)
			mlp_grid_wait(p);
		// The last block: the mean loss (a block of its own, so that no
		// tile waits for it). Thread t adds rows t, t+MLP_THREADS, ...,
		// then the block halves the partial sums (a fixed order) to one.
		const float *rowloss = work + mlp_rowloss_offset(p, w);
		float s = 0.0f;
		for (int r = tid; r < p.rows; r += MLP_THREADS)
			s += rowloss[r];
		part[tid] = s;
		for (int half = MLP_THREADS / 2; half > 0; half /= 2) {
			__syncthreads();
			if (tid < half)
				part[tid] += part[tid + half];
		}
		if (tid == 0)
			*replay_loss(p.hyper, p.loss) = part[0] * (1.0f / (float)p.rows);
		return;
	}
	int tiles_k, tiles;
	mlp_update_tiles(w, tiles_k, tiles);
	const int inputs = w[0], n1 = w[1];
	if ((int)blockIdx.x < tiles) {
		// A tile of W_1: thread (kx, jy) sums column k0+kx of rows
		// j0+JT·jy .. j0+JT·jy+JT-1.
		constexpr int JT = MLP_UPDATE_TILE * MLP_CHUNK / MLP_THREADS; // rows j a thread
		const int j0 = blockIdx.x / tiles_k * MLP_UPDATE_TILE, k0 = blockIdx.x % tiles_k * MLP_CHUNK;
		const int kx = tid % MLP_CHUNK, jy = tid / MLP_CHUNK;
		const int k = k0 + kx;
		float pv[JT], mv[JT], vv[JT], acc[JT];
#pragma unroll
		for (int q = 0; q < JT; ++q) {
			const int j = j0 + JT * jy + q;
			const bool ok = j < n1 && k < inputs;
			mlp_state(p, ok ? (size_t)j * inputs + k : 0, pv[q], mv[q], vv[q]);
			acc[q] = 0.0f;
		}
		const float *D = work + mlp_grads_offset(p, w, 1);
		// With prepare: the next batch's first chunk of rows, its pixels
		// of this tile's columns loaded with this batch's (their round
		// trips overlap the gradient's).
		static_assert(MLP_THREADS >= 2 * MLP_CHUNK, "a chunk's entries and the next batch's in different threads");
		const int next0 = p.rows < MLP_CHUNK ? p.rows : MLP_CHUNK;
		float xnext[MLP_CHUNK * MLP_CHUNK / MLP_THREADS];
		float xv[MLP_CHUNK * MLP_CHUNK / MLP_THREADS];
		// With pdl and the data set: the first chunk of this batch's
		// pixels (its entries from the order, as mlp_rows_f32 noted them)
		// and, with prepare, of the next batch's, before the wait.
		const bool early = p.pdl && p.images;
		if (early) {
			if (tid < next0)
				image[tid] = mlp_image(p, tid);
			if (p.prepare && tid >= MLP_CHUNK && tid < MLP_CHUNK + next0)
				image_next[tid - MLP_CHUNK] = mlp_next_image(p, tid - MLP_CHUNK, j0 == 0);
			__syncthreads();
			mlp_tile_inputs(p, image, next0, k0, xv);
			if (p.prepare)
				mlp_tile_inputs(p, image_next, next0, k0, xnext);
		}
		if (p.pdl)
			mlp_grid_wait(p);
		for (int r0 = 0; r0 < p.rows; r0 += MLP_CHUNK) {
			const int chunk = p.rows - r0 < MLP_CHUNK ? p.rows - r0 : MLP_CHUNK;
			float dv[MLP_CHUNK * MLP_UPDATE_TILE / MLP_THREADS];
#pragma unroll
			for (int q = 0; q < MLP_CHUNK * MLP_UPDATE_TILE / MLP_THREADS; ++q) {
				const int e = tid + q * MLP_THREADS, rr = e / MLP_UPDATE_TILE, j = j0 + e % MLP_UPDATE_TILE;
				const bool ok = rr < chunk && j < n1;
				dv[q] = D[ok ? (size_t)(r0 + rr) * n1 + j : 0];
				dv[q] = ok ? dv[q] : 0.0f;
			}
			__syncthreads(); // the previous chunk's readers are done
			if (!early || r0 > 0) {
				// This batch's entries (one round trip) in the first
				// warps, the next batch's (two: the replay's position,
				// the order) in the warps after them, so that neither
				// waits for the other.
				if (tid < chunk)
					image[tid] = mlp_image_noted(p, w, r0 + tid);
				if (r0 == 0 && p.prepare && tid >= MLP_CHUNK && tid < MLP_CHUNK + next0)
					image_next[tid - MLP_CHUNK] = mlp_next_image(p, tid - MLP_CHUNK, j0 == 0);
				__syncthreads();
				mlp_tile_inputs(p, image, chunk, k0, xv);
				if (r0 == 0 && p.prepare)
					mlp_tile_inputs(p, image_next, next0, k0, xnext);
			}
#pragma unroll
			for (int q = 0; q < MLP_CHUNK * MLP_UPDATE_TILE / MLP_THREADS; ++q) {
				const int e = tid + q * MLP_THREADS;
				ds[e / MLP_UPDATE_TILE][e % MLP_UPDATE_TILE] = dv[q];
			}
#pragma unroll
			for (int q = 0; q < MLP_CHUNK * MLP_CHUNK / MLP_THREADS; ++q) {
				const int e = tid + q * MLP_THREADS;
				xs[e / MLP_CHUNK][e % MLP_CHUNK] = xv[q];
			}
			__syncthreads();
#pragma unroll 4
			for (int rr = 0; rr < chunk; ++rr) {
				const float x = xs[rr][kx];
#pragma unroll
				for (int q = 0; q < JT; ++q)
					acc[q] = fmaf(ds[rr][JT * jy + q], x, acc[q]);
			}
		}
		float nv[JT]; // the updated weights (0 outside W_1)
#pragma unroll
		for (int q = 0; q < JT; ++q) {
			const int j = j0 + JT * jy + q;
			nv[q] = 0.0f;
			if (j < n1 && k < inputs)
				nv[q] = mlp_optimise(p, (size_t)j * inputs + k, acc[q], pv[q], mv[q], vv[q], lr, t);
		}
		if (!p.prepare)
			return;
		// The next batch's first-layer products with this tile's updated
		// weights (see mlp_params.prepare): part[z][r][j] for the tile's
		// column z of tiles, its MLP_UPDATE_TILE rows j and every row r of
		// the batch at start+rows, summed as mlp_first_f32 sums them with
		// kslice = MLP_CHUNK (the same products, in the same order, from
		// zero: the same bits). Thread (rr, jq) sums row rr, columns jq,
		// jq+4, ... (a quarter-warp's float4 reads of wn then fall in
		// distinct banks).
		constexpr int OUT = MLP_UPDATE_TILE / 4; // outputs a thread
		alignas(16) __shared__ float wn[MLP_UPDATE_TILE][MLP_CHUNK + 4]; // [j][k]
		const int z = blockIdx.x % tiles_k, rr = tid / 4, jq = tid % 4;
		float *part = (float *)p.work + (size_t)z * p.rows * n1;
		__syncthreads(); // the gradient's readers of xs and image are done
#pragma unroll
		for (int q = 0; q < JT; ++q)
			wn[JT * jy + q][kx] = nv[q];
		for (int r0 = 0; r0 < p.rows; r0 += MLP_CHUNK) {
			const int chunk = p.rows - r0 < MLP_CHUNK ? p.rows - r0 : MLP_CHUNK;
			if (r0 > 0) { // the first chunk's pixels are in xnext already
				if (tid < chunk)
					image_next[tid] = mlp_next_image(p, r0 + tid, j0 == 0);
				__syncthreads();
				mlp_tile_inputs(p, image_next, chunk, k0, xnext);
			}
#pragma unroll
			for (int q = 0; q < MLP_CHUNK * MLP_CHUNK / MLP_THREADS; ++q) {
				const int e = tid + q * MLP_THREADS;
				xs[e / MLP_CHUNK][e % MLP_CHUNK] = xnext[q];
			}
			__syncthreads();
			float out[OUT];
#pragma unroll
			for (int q = 0; q < OUT; ++q)
				out[q] = 0.0f;
#pragma unroll 4
			for (int kk = 0; kk < MLP_CHUNK; kk += 4) {
				const float4 x = *(const float4 *)&xs[rr][kk];
#pragma unroll
				for (int q = 0; q < OUT; ++q) {
					const float4 v = *(const float4 *)&wn[jq + 4 * q][kk];
					out[q] = fmaf(x.x, v.x, out[q]);
					out[q] = fmaf(x.y, v.y, out[q]);
					out[q] = fmaf(x.z, v.z, out[q]);
					out[q] = fmaf(x.w, v.w, out[q]);
				}
			}
#pragma unroll
			for (int q = 0; q < OUT; ++q)
				if (rr < chunk && j0 + jq + 4 * q < n1)
					part[(size_t)(r0 + rr) * n1 + j0 + jq + 4 * q] = out[q];
			__syncthreads(); // before the next chunk's rows replace xs
		}
		return;
	}

	// One of the other parameters: b_1, or a weight or bias of layer l ≥ 2;
	// its state's loads are issued before the layer table is waited for.
	__shared__ mlp_layer lt[MLP_MAX_LAYERS + 1];
	mlp_layer_table(p, w, lt);
	const int L = mlp_layers(p);
	const size_t first = (size_t)n1 * inputs, total = mlp_weights_offset(w, L + 1);
	const size_t i = first + (size_t)(blockIdx.x - tiles) * MLP_THREADS + tid;
	float pv, mv, vv;
	mlp_state(p, i < total ? i : 0, pv, mv, vv);
	if (p.pdl)
		mlp_grid_wait(p);
	__syncthreads();
	if (i >= total)
		return;
	int l = 1;
	while (l < L && (long long)i >= lt[l + 1].woff)
		++l;
	const int in = lt[l].in, n = lt[l].n;
	const size_t woff = lt[l].woff, boff = woff + (size_t)n * in;
	const float *D = work + lt[l].goff;
	float g = 0.0f;
	if (i >= boff) {
		const int j = (int)(i - boff);
		for (int b = 0; b < p.rows; b += MLP_UPDATE_BATCH) {
			float d[MLP_UPDATE_BATCH];
#pragma unroll
			for (int q = 0; q < MLP_UPDATE_BATCH; ++q)
				d[q] = D[(size_t)(b + q < p.rows ? b + q : 0) * n + j];
#pragma unroll
			for (int q = 0; q < MLP_UPDATE_BATCH; ++q)
				if (b + q < p.rows)
					g += d[q];
		}
	} else {
		const int j = (int)((i - woff) / in), k = (int)((i - woff) % in);
		const float *A = work + lt[l - 1].aoff;
		for (int b = 0; b < p.rows; b += MLP_UPDATE_BATCH) {
			float d[MLP_UPDATE_BATCH], a[MLP_UPDATE_BATCH];
#pragma unroll
			for (int q = 0; q < MLP_UPDATE_BATCH; ++q) {
				const int r = b + q < p.rows ? b + q : 0;
				d[q] = D[(size_t)r * n + j];
				a[q] = A[(size_t)r * in + k];
			}
#pragma unroll
			for (int q = 0; q < MLP_UPDATE_BATCH; ++q)
				if (b + q < p.rows)
					g = fmaf(d[q], a[q], g);
		}
	}
	mlp_optimise(p, i, g, pv, mv, vv, lr, t);
}
