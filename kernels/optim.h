// Per-parameter optimiser updates, shared by the optimiser kernels
// (ops.cu: sgd_f32, adam_f32) and the fused MLP step (mlp.cu), so that both
// compute exactly the same update.
#ifndef MNIST_KERNELS_OPTIM_H
#define MNIST_KERNELS_OPTIM_H

#include "params.h"
#include "replay.h"

// sgd_update is one parameter's torch.optim.SGD update:
//
//	g = grad + weight_decay·w
//	if momentum != 0: v = momentum·v + g;  g = nesterov ? g + momentum·v : v
//	w -= lr·g
//
// w and vel are values the caller loaded (vel is not read when momentum is
// 0) and stores back.
__device__ __forceinline__ void sgd_update(float &w, float grad, float &vel, float lr, float momentum, float weight_decay, int nesterov)
{
	float g = grad;
	if (weight_decay != 0.0f)
		g = fmaf(weight_decay, w, g);
	if (momentum != 0.0f) {
		const float v = fmaf(momentum, vel, g);
		vel = v;
		g = nesterov ? fmaf(momentum, v, g) : v;
	}
	w = fmaf(-lr, g, w);
}

// adam_factors returns Adam's step size lr/(1-β1^t) and sqrt(1-β2^t), in
// double precision rounded to float, as the CPU backend computes them.
__device__ __forceinline__ void adam_factors(float lr, int t, float beta1, float beta2, float &step_size, float &bias_corr2_sqrt)
{
	step_size = (float)((double)lr / (1.0 - pow((double)beta1, (double)t)));
	bias_corr2_sqrt = (float)sqrt(1.0 - pow((double)beta2, (double)t));
}

// adam_update is one parameter's torch.optim.Adam update:
//
//	g = grad + weight_decay·w
//	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//	w -= step_size·m / (sqrt(v)/bias_corr2_sqrt + eps)
//
// w, m1 and m2 are values the caller loaded and stores back.
__device__ __forceinline__ void adam_update(float &w, float grad, float &m1, float &m2, float step_size, float bias_corr2_sqrt,
	float beta1, float beta2, float eps, float weight_decay)
{
	float g = grad;
	if (weight_decay != 0.0f)
		g = fmaf(weight_decay, w, g);
	const float m = beta1 * m1 + (1.0f - beta1) * g;
	const float v = beta2 * m2 + (1.0f - beta2) * g * g;
	m1 = m;
	m2 = v;
	w -= step_size * (m / (sqrtf(v) / bias_corr2_sqrt + eps));
}

#endif
