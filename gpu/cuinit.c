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
#include <string.h>

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

// cuLaunchKernelEx (CUDA 11.8 and newer drivers), found with dlsym rather
// than linked, so that a binary that uses it where it can still starts on
// an older driver; NULL when the driver lacks it.
typedef CUresult (*mnist_launch_ex_fn)(const CUlaunchConfig *, CUfunction, void **, void **);
static mnist_launch_ex_fn mnist_launch_ex;
static int mnist_launch_ex_looked;

// mnist_has_launch_ex reports whether the driver has cuLaunchKernelEx.
int mnist_has_launch_ex(void)
{
	if (!mnist_launch_ex_looked) {
		mnist_launch_ex = (mnist_launch_ex_fn)dlsym(RTLD_DEFAULT, "cuLaunchKernelEx");
		mnist_launch_ex_looked = 1;
	}
	return mnist_launch_ex != NULL;
}

// mnist_launch_ex_dependent launches f on s (the context already current)
// with programmatic stream serialization: the kernel may start before the
// kernel queued before it has ended, and waits for it with
// griddepcontrol.wait (kernels/mlp.cu, "programmatic dependent launch").
CUresult mnist_launch_ex_dependent(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                                   unsigned bx, unsigned by, unsigned bz, CUstream s, void *params)
{
	if (!mnist_has_launch_ex())
		return CUDA_ERROR_NOT_SUPPORTED;
	CUlaunchAttribute attr;
	memset(&attr, 0, sizeof attr);
	attr.id = CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION;
	attr.value.programmaticStreamSerializationAllowed = 1;
	CUlaunchConfig cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.gridDimX = gx, cfg.gridDimY = gy, cfg.gridDimZ = gz;
	cfg.blockDimX = bx, cfg.blockDimY = by, cfg.blockDimZ = bz;
	cfg.hStream = s;
	cfg.attrs = &attr;
	cfg.numAttrs = 1;
	void *args[1] = {params};
	return mnist_launch_ex(&cfg, f, args, NULL);
}
