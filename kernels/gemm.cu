// gemm_f32: single-precision GEMM with a fused epilogue, for nn.Backend.Gemm.
//
// Reference loop (row-major, op(X) is X or Xᵀ as trans_a/trans_b say):
//
//	for m < M, n < N:
//		acc = Σ_k op(A)[m,k]·op(B)[k,n]
//		v = alpha·acc + (beta != 0 ? beta·C[m,n] : 0)   // beta 0 never reads C
//		if bias:  v += bias[n]
//		if relu:  v = v < 0 ? 0 : v
//		if mask:  v = mask[m,n] > 0 ? v : 0
//		C[m,n] = v
//
// Each block computes one BM×BN tile of C with GEMM_THREADS threads. The
// threads form KS groups ("k-slices") of (BM/TM)·(BN/TN) threads; each thread
// keeps a TM×TN register tile. Per iteration the block stages a KS·BK deep
// slab of op(A) and op(B) in shared memory (k-major, padded by one float so
// both the transposing stores and the reads are free of bank conflicts);
// slice s multiplies rows [s·BK, (s+1)·BK) of the slab. The next slab is
// loaded into registers while the current one is multiplied. At the end the
// slices' partial tiles are summed through shared memory in a fixed order
// (deterministic; no atomics, no workspace), and the epilogue is applied.
//
// Splitting K inside a block is what makes the tutorial's shapes fast: the
// forward GEMM of the first layer is 64×64 with K = 784, only 64 tiles of
// 8×8, so each tile must use many threads along K to finish quickly.
//
// Split-K across blocks (p.splits > 1) is for the convolutions' weight and
// bias gradients, whose K is the batch's output positions (36,864 for the
// first layer of the cnn at batch 64) and whose outputs are a few tiles: a
// grid of (tiles, splits) blocks, block (b, s) multiplying K range
// [s·k_chunk, min((s+1)·k_chunk, K)) of tile b and storing the raw partial
// tile (no epilogue) into partial[s, m, n]; gemm_splitk_reduce_f32 then sums
// the splits in split order and applies the epilogue. Deterministic: every
// partial element has one writer, the sum one fixed order.
// A thread's TM rows are tm, tm+BM/TM, ... and its TN columns tn, tn+BN/TN,
// ... so neighbouring threads read neighbouring shared-memory words and write
// neighbouring columns of C.
#include "params.h"

template <int BM, int BN, int TM, int TN, int KS, int BK>
struct GemmTile {
	static constexpr int TPS = (BM / TM) * (BN / TN); // threads per k-slice
	static constexpr int NT = TPS * KS;                // threads per block
	static constexpr int KD = KS * BK;                 // depth of one slab
	static constexpr int LA = KD * BM / NT;            // slab elements of A per thread
	static constexpr int LB = KD * BN / NT;            // slab elements of B per thread
	static constexpr int AS = BM + 1;                  // padded row of the A slab
	static constexpr int BS = BN + 1;                  // padded row of the B slab
	static_assert(NT == GEMM_THREADS, "every configuration uses GEMM_THREADS threads");
	static_assert(KD * BM % NT == 0 && KD * BN % NT == 0, "slabs split evenly over threads");
	static_assert(KD * (AS + BS) <= GEMM_SMEM_FLOATS, "slabs fit in shared memory");
	static_assert(KS == 1 || KS * BM * BN <= GEMM_SMEM_FLOATS, "partial tiles fit in shared memory");
};

// gemm_store applies the epilogue to one element of C.
__device__ __forceinline__ void gemm_store(const gemm_params &p, int gm, int gn, float acc)
{
	if (gm >= p.m || gn >= p.n)
		return;
	const size_t o = (size_t)gm * (size_t)p.n + (size_t)gn;
	float *c = (float *)p.c;
	float v = p.alpha * acc;
	if (p.beta != 0.0f)
		v = fmaf(p.beta, c[o], v);
	if (p.bias)
		v += ((const float *)p.bias)[gn];
	if (p.relu && v < 0.0f)
		v = 0.0f;
	if (p.mask && !(((const float *)p.mask)[o] > 0.0f))
		v = 0.0f;
	c[o] = v;
}

// gemm_out stores one element of a block's tile: into this split's partial
// product when K is split across blocks, else through the epilogue.
__device__ __forceinline__ void gemm_out(const gemm_params &p, int gm, int gn, float acc)
{
	if (p.splits > 1) {
		if (gm < p.m && gn < p.n)
			((float *)p.partial)[((size_t)blockIdx.y * (size_t)p.m + (size_t)gm) * (size_t)p.n + (size_t)gn] = acc;
		return;
	}
	gemm_store(p, gm, gn, acc);
}

template <int BM, int BN, int TM, int TN, int KS, int BK>
__device__ __forceinline__ void gemm_tile(const gemm_params &p, int tile_m, int tile_n, float *smem)
{
	typedef GemmTile<BM, BN, TM, TN, KS, BK> T;
	float *as = smem;                  // [KD][AS]: as[kk·AS + m] = op(A)[m0+m, k0+kk]
	float *bs = smem + T::KD * T::AS;  // [KD][BS]: bs[kk·BS + n] = op(B)[k0+kk, n0+n]
	const float *a = (const float *)p.a;
	const float *b = (const float *)p.b;
	const int M = p.m, N = p.n;
	// This block's range of K: all of it, or split blockIdx.y's chunk.
	const int kbeg = p.splits > 1 ? (int)blockIdx.y * p.k_chunk : 0;
	const int kend = p.splits > 1 && p.k - kbeg > p.k_chunk ? kbeg + p.k_chunk : p.k;
	const int tid = threadIdx.x;
	const int slice = tid / T::TPS;
	const int lt = tid % T::TPS;
	const int tn = lt % (BN / TN);
	const int tm = lt / (BN / TN);
	const int m0 = tile_m * BM;
	const int n0 = tile_n * BN;

	float acc[TM][TN];
#pragma unroll
	for (int i = 0; i < TM; ++i)
#pragma unroll
		for (int j = 0; j < TN; ++j)
			acc[i][j] = 0.0f;

	float ra[T::LA], rb[T::LB];
	const int iters = kend > kbeg ? (kend - kbeg + T::KD - 1) / T::KD : 0;

	// Slab element e of this thread is idx = tid + e·NT. The mapping from idx
	// to (row, k) follows the matrix's storage so that consecutive threads
	// read consecutive addresses (coalesced) whatever the transposes.
#define GEMM_A_COORDS(idx, mm, kk)                                     \
	if (p.trans_a) { kk = (idx) / BM; mm = (idx) % BM; }           \
	else { mm = (idx) / T::KD; kk = (idx) % T::KD; }
#define GEMM_B_COORDS(idx, nn, kk)                                     \
	if (p.trans_b) { nn = (idx) / T::KD; kk = (idx) % T::KD; }     \
	else { kk = (idx) / BN; nn = (idx) % BN; }

	int k0 = kbeg;
	if (iters > 0) {
#pragma unroll
		for (int e = 0; e < T::LA; ++e) {
			int mm, kk;
			GEMM_A_COORDS(tid + e * T::NT, mm, kk)
			const int gm = m0 + mm, gk = k0 + kk;
			ra[e] = (gm < M && gk < kend) ? (p.trans_a ? a[(size_t)gk * M + gm] : a[(size_t)gm * p.k + gk]) : 0.0f;
		}
#pragma unroll
		for (int e = 0; e < T::LB; ++e) {
			int nn, kk;
			GEMM_B_COORDS(tid + e * T::NT, nn, kk)
			const int gn = n0 + nn, gk = k0 + kk;
			rb[e] = (gn < N && gk < kend) ? (p.trans_b ? b[(size_t)gn * p.k + gk] : b[(size_t)gk * N + gn]) : 0.0f;
		}
	}

	for (int it = 0; it < iters; ++it) {
#pragma unroll
		for (int e = 0; e < T::LA; ++e) {
			int mm, kk;
			GEMM_A_COORDS(tid + e * T::NT, mm, kk)
			as[kk * T::AS + mm] = ra[e];
		}
#pragma unroll
		for (int e = 0; e < T::LB; ++e) {
			int nn, kk;
			GEMM_B_COORDS(tid + e * T::NT, nn, kk)
			bs[kk * T::BS + nn] = rb[e];
		}
		__syncthreads();

		// Prefetch the next slab into registers while this one is multiplied.
		k0 += T::KD;
		if (it + 1 < iters) {
#pragma unroll
			for (int e = 0; e < T::LA; ++e) {
				int mm, kk;
				GEMM_A_COORDS(tid + e * T::NT, mm, kk)
				const int gm = m0 + mm, gk = k0 + kk;
				ra[e] = (gm < M && gk < kend) ? (p.trans_a ? a[(size_t)gk * M + gm] : a[(size_t)gm * p.k + gk]) : 0.0f;
			}
#pragma unroll
			for (int e = 0; e < T::LB; ++e) {
				int nn, kk;
				GEMM_B_COORDS(tid + e * T::NT, nn, kk)
				const int gn = n0 + nn, gk = k0 + kk;
				rb[e] = (gn < N && gk < kend) ? (p.trans_b ? b[(size_t)gn * p.k + gk] : b[(size_t)gk * N + gn]) : 0.0f;
			}
		}

#pragma unroll
		for (int q = 0; q < BK; ++q) {
			const int kk = slice * BK + q;
			float av[TM], bv[TN];
#pragma unroll
			for (int i = 0; i < TM; ++i)
				av[i] = as[kk * T::AS + tm + i * (BM / TM)];
#pragma unroll
			for (int j = 0; j < TN; ++j)
				bv[j] = bs[kk * T::BS + tn + j * (BN / TN)];
#pragma unroll
			for (int i = 0; i < TM; ++i)
#pragma unroll
				for (int j = 0; j < TN; ++j)
					acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
		}
		__syncthreads();
	}
#undef GEMM_A_COORDS
#undef GEMM_B_COORDS

	if (KS == 1) {
#pragma unroll
		for (int i = 0; i < TM; ++i)
#pragma unroll
			for (int j = 0; j < TN; ++j)
				gemm_out(p, m0 + tm + i * (BM / TM), n0 + tn + j * (BN / TN), acc[i][j]);
		return;
	}

	// Sum the k-slices' partial tiles in slice order. The loop above ended
	// with a barrier, so the slabs' shared memory is free to reuse.
	float *red = smem; // [KS][BM][BN]
#pragma unroll
	for (int i = 0; i < TM; ++i)
#pragma unroll
		for (int j = 0; j < TN; ++j)
			red[(slice * BM + tm + i * (BM / TM)) * BN + tn + j * (BN / TN)] = acc[i][j];
	__syncthreads();
	for (int e = tid; e < BM * BN; e += T::NT) {
		float v = 0.0f;
#pragma unroll
		for (int s = 0; s < KS; ++s)
			v += red[s * BM * BN + e];
		gemm_out(p, m0 + e / BN, n0 + e % BN, v);
	}
}

// gemm_f32 computes one tile of C per block: block b is tile (b / tiles_n,
// b % tiles_n) of the configuration p.config. Launch with GEMM_THREADS
// threads and a grid of ceil(m/BM)·ceil(n/BN) × splits blocks for that
// configuration (see the split-K note at the top).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS) gemm_f32(const gemm_params p)
{
	__shared__ float smem[GEMM_SMEM_FLOATS];
	const int tile_m = blockIdx.x / p.tiles_n;
	const int tile_n = blockIdx.x % p.tiles_n;
	switch (p.config) {
	case GEMM_CFG_64X64:
		gemm_tile<64, 64, 4, 4, 1, 16>(p, tile_m, tile_n, smem);
		break;
	case GEMM_CFG_32X32:
		gemm_tile<32, 32, 2, 2, 1, 32>(p, tile_m, tile_n, smem);
		break;
	case GEMM_CFG_16X16K4:
		gemm_tile<16, 16, 2, 2, 4, 16>(p, tile_m, tile_n, smem);
		break;
	default: // GEMM_CFG_8X8K16
		gemm_tile<8, 8, 2, 2, 16, 8>(p, tile_m, tile_n, smem);
		break;
	}
}

// gemm_splitk_reduce_f32 finishes a split-K gemm_f32 with the same
// parameters: for e < m·n, with (gm, gn) = (e / n, e % n),
//
//	acc = Σ_{s < splits, in order} partial[s, gm, gn]
//	C[gm, gn] = epilogue(acc)   (as gemm_f32: alpha, beta, bias, relu, mask)
//
// Any 1-D grid of any block size; grid-stride loop over m·n. Reads of the
// splits are coalesced: consecutive threads, consecutive elements.
extern "C" __global__ void gemm_splitk_reduce_f32(const gemm_params p)
{
	const float *partial = (const float *)p.partial;
	const size_t mn = (size_t)p.m * (size_t)p.n;
	for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < mn; e += (size_t)gridDim.x * blockDim.x) {
		float acc = 0.0f;
		for (int s = 0; s < p.splits; ++s)
			acc += partial[(size_t)s * mn + e];
		gemm_store(p, (int)(e / p.n), (int)(e % p.n), acc);
	}
}
