// Package gpu is the CUDA backend of nn: it registers "cuda" with nn's
// registry and runs every nn.Backend op as a kernel of package kernels on
// an NVIDIA GPU through gorgonia.org/cu (the CUDA driver API).
//
// Builds: with -tags cuda (needs cgo, cuda.h and libcuda at build time) the
// backend is real; without it, a twin registers "cuda" with an opener that
// returns ErrNoCUDASupport, so `--backend auto` falls back to the CPU and
// says why. The op logic (checks, launch shapes, recordings) is plain Go on
// top of a small device interface, shared by the CUDA driver and, in tests,
// by a CPU emulator of the same kernels (gpu/internal/emu).
//
// Threads: the driver API keeps the current context per OS thread. Every
// driver call this package makes first makes the device's primary context
// current on the thread that makes the call (inside the same cgo call for
// the hot path: launches, copies, graph launches), so a Backend may be used
// from any goroutine, one at a time, without locking a goroutine to a
// thread for its whole life and without cu.Ctx's channel hop per call.
//
// Starting without a GPU: gorgonia.org/cu calls cuInit in its package init
// and exits the process when it fails. This package defines cuInit itself
// (cuinit.c): the definition forwards to the driver's cuInit through
// dlsym(RTLD_NEXT), remembers its result and reports success, so cu's init
// passes and Probe/Open return the driver's reason as an error. A binary
// linked with libcuda.so.1 cannot start at all where that library is
// missing; package gpu/handover covers that case with a pure-Go binary that
// probes a CUDA-enabled sibling before handing over to it.
package gpu

import (
	"errors"
	"fmt"
	"strings"
)

// Name is the registry name of the backend.
const Name = "cuda"

// PDLEnv names the environment variable that turns on programmatic
// dependent launch for the fused MLP step's kernels (kernels/mlp.cu,
// mlp_params.pdl): 0 or unset, off; 1, each of mlp_rows_f32 and
// mlp_update_f32 may start while the kernel before it ends, having issued
// the loads that do not depend on it; 2, and lets the next one launch as
// soon as it has waited. On GPUs of compute capability 9.x (whose code
// has the wait) with a driver that can capture such launches in a CUDA
// graph; elsewhere only the order of the loads changes. The results are
// the same bits either way. Off by default until a GPU run has measured it
// (bench/RESULTS.md).
const PDLEnv = "MNIST_CUDA_PDL"

// pdlMode parses PDLEnv's value v.
func pdlMode(v string) (int32, error) {
	switch strings.TrimSpace(v) {
	case "", "0":
		return 0, nil
	case "1":
		return 1, nil
	case "2":
		return 2, nil
	}
	return 0, fmt.Errorf("%s=%q: want 0 or unset (off), 1 or 2 (the fused MLP step's programmatic dependent launch; README, GPU workstations)", PDLEnv, v)
}

// Priority is the backend's registry priority: above the CPU backend, so
// "auto" tries CUDA first.
const Priority = 10

// ErrNoCUDASupport is returned (wrapped) by the opener and Probe of a binary
// built without the cuda build tag.
var ErrNoCUDASupport = errors.New("built without CUDA support: rebuild with `make build` on a machine with the CUDA toolkit (nvcc and cuda.h)")

// ErrNoDevice is returned (wrapped, with the driver's reason) when the CUDA
// driver is there but no usable device answers.
var ErrNoDevice = errors.New("no CUDA device")

// Info describes the GPU that Probe found.
type Info struct {
	Name          string // e.g. "NVIDIA H100 80GB HBM3"
	Major, Minor  int    // compute capability
	TotalMemory   int64  // bytes
	FreeMemory    int64  // bytes, when probed
	Multiprocs    int    // streaming multiprocessors
	DriverVersion int    // as cuDriverGetVersion returns it, e.g. 12040 for 12.4
}

// String is the one-line description nn.Open prints, e.g.
// "NVIDIA H100 80GB HBM3 (compute 9.0, 79.1 GiB, 78.6 GiB free, 132 SMs, driver 12.4)".
func (i Info) String() string {
	return fmt.Sprintf("%s (compute %d.%d, %.1f GiB, %.1f GiB free, %d SMs, driver %s)",
		i.Name, i.Major, i.Minor, gib(i.TotalMemory), gib(i.FreeMemory), i.Multiprocs, DriverVersionString(i.DriverVersion))
}

// DriverVersionString formats a cuDriverGetVersion number: 12040 is "12.4".
func DriverVersionString(v int) string {
	if v <= 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d.%d", v/1000, v%1000/10)
}

func gib(b int64) float64 { return float64(b) / (1 << 30) }

// DriverError is a CUDA driver call that failed.
type DriverError struct {
	Op   string // what we were doing, e.g. "cuMemAlloc 188160000 bytes"
	Code int    // the CUresult
	Name string // e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Desc string // the driver's description, e.g. "out of memory"
}

func (e *DriverError) Error() string {
	if e.Desc == "" {
		return fmt.Sprintf("%s: %s", e.Op, e.Name)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Op, e.Name, e.Desc)
}

// stickyError reports whether a CUresult leaves the context unusable for
// the rest of the process (the driver's documentation of each code: "the
// context cannot be used, so it must be destroyed (and a new one should be
// created)"): an ECC error, an illegal or misaligned address, a timeout, a
// device-side assert, a stack error, an illegal instruction or pc, or a
// launch that failed.
//
//lint:ignore U1000 used by cuda.go, built with -tags cuda
func stickyError(code int) bool {
	switch code {
	case 214, // CUDA_ERROR_ECC_UNCORRECTABLE
		700, // CUDA_ERROR_ILLEGAL_ADDRESS
		702, // CUDA_ERROR_LAUNCH_TIMEOUT
		710, // CUDA_ERROR_ASSERT
		714, // CUDA_ERROR_HARDWARE_STACK_ERROR
		715, // CUDA_ERROR_ILLEGAL_INSTRUCTION
		716, // CUDA_ERROR_MISALIGNED_ADDRESS
		717, // CUDA_ERROR_INVALID_ADDRESS_SPACE
		718, // CUDA_ERROR_INVALID_PC
		719: // CUDA_ERROR_LAUNCH_FAILED
		return true
	}
	return false
}
