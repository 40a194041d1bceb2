//go:build cuda

// cuInit, answered in front of the driver.
//
// gorgonia.org/cu calls cuInit(0) in its package init and calls os.Exit(1)
// when it fails, which is what happens on a machine with the driver library
// but no usable GPU. Defining cuInit in the executable makes every call to
// it, cu's included, come here (the executable's definition wins over
// libcuda's at link time); we forward to the driver's cuInit, found with
// dlsym(RTLD_NEXT), remember its result for Probe, and report success so
// that the process lives on and can fall back to the CPU with the driver's
// reason.
#define _GNU_SOURCE
#include <cuda.h>
#include <dlfcn.h>

static CUresult mnist_init_result = CUDA_ERROR_NOT_INITIALIZED;
static int mnist_init_called;

CUresult cuInit(unsigned int flags)
{
	CUresult (*real)(unsigned int) = (CUresult(*)(unsigned int))dlsym(RTLD_NEXT, "cuInit");
	mnist_init_called = 1;
	mnist_init_result = real ? real(flags) : CUDA_ERROR_NOT_INITIALIZED;
	return CUDA_SUCCESS;
}

// mnist_cuinit_result is what the driver's cuInit returned, or
// CUDA_ERROR_NOT_INITIALIZED when it was never called or not found.
CUresult mnist_cuinit_result(void) { return mnist_init_result; }
int mnist_cuinit_called(void) { return mnist_init_called; }
