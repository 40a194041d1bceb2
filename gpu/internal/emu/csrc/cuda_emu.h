// cuda_emu.h lets g++ compile the CUDA C kernels in kernels/*.cu for the CPU,
// so that package gpu's tests can run the very same kernel code on a machine
// without a GPU. It is force-included (-include) before each .cu file.
//
// Each CUDA thread of a block is a fiber; __syncthreads and the warp
// shuffles switch back to a scheduler (emu_runtime.cpp) that releases the
// fibers when the whole block (or warp) has arrived. Only one block runs at a
// time, so __shared__ variables can simply be function statics.
#ifndef MNIST_CUDA_EMU_H
#define MNIST_CUDA_EMU_H

#include <cmath>
#include <math.h>
#include <cstddef>
#include <cstdint>

struct uint3 {
	unsigned x, y, z;
};
struct dim3 {
	unsigned x, y, z;
};

// CUDA's vector type for 16-byte loads (its alignment included).
struct alignas(16) float4 {
	float x, y, z, w;
};

extern uint3 threadIdx, blockIdx;
extern dim3 blockDim, gridDim;

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

void __syncthreads();
// emu_grid_wait stands for griddepcontrol.wait (kernels/mlp.cu's
// mlp_grid_wait): a barrier of the block, after which, when the emulator
// checks programmatic dependent launch (emu_pdl_check), the kernel may
// touch what the kernel before it wrote.
void emu_grid_wait();
// Blocks run one after another, so memory is always coherent between them.
inline void __threadfence() {}
float __shfl_xor_sync(unsigned mask, float v, int lane_mask);
float __shfl_sync(unsigned mask, float v, int src_lane);

inline unsigned atomicOr(unsigned *a, unsigned v)
{
	unsigned old = *a;
	*a = old | v;
	return old;
}
inline unsigned atomicAdd(unsigned *a, unsigned v)
{
	unsigned old = *a;
	*a = old + v;
	return old;
}

// fmaf, fmaxf, expf, logf, sqrtf, INFINITY and NAN come from <math.h>.

#endif
