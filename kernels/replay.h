// What a kernel reads from a replay_hyper (params.h) when its parameter
// block has one: a recording of training steps replays at another learning
// rate, update number, data position and loss slot than it was recorded
// with. A hyper of 0 (outside recordings) leaves everything as given.
#ifndef MNIST_KERNELS_REPLAY_H
#define MNIST_KERNELS_REPLAY_H

#include "params.h"

// optim_lr_t returns the learning rate and the update number of an
// optimiser step: as given, or from the device (hyper) for a replay.
__device__ __forceinline__ void optim_lr_t(uint64_t hyper, float lr_given, int t_given, float &lr, int &t)
{
	lr = lr_given;
	t = t_given;
	if (hyper) {
		const replay_hyper *h = (const replay_hyper *)hyper;
		lr = h->lr;
		t += h->update_base;
	}
}

// replay_start returns a gather's first position in the visiting order.
__device__ __forceinline__ int replay_start(uint64_t hyper, int start)
{
	return hyper ? start + ((const replay_hyper *)hyper)->row_base : start;
}

// replay_loss returns where a step's mean loss goes.
__device__ __forceinline__ float *replay_loss(uint64_t hyper, uint64_t loss)
{
	return (float *)loss + (hyper ? ((const replay_hyper *)hyper)->loss_base : 0);
}

#endif
