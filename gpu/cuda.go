//go:build cuda

package gpu

/*
#cgo LDFLAGS: -lcuda -ldl
#include <cuda.h>
#include <stdlib.h>
#include <string.h>

CUresult mnist_cuinit_result(void);
int mnist_cuinit_called(void);
int mnist_has_launch_ex(void);
CUresult mnist_launch_ex_dependent(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
	unsigned bx, unsigned by, unsigned bz, CUstream s, void *params);

// The wrappers below exist because gorgonia.org/cu lacks these calls, or
// because the hot path must make the context current and call the driver in
// one cgo call (cu.Function.Launch also mallocs twice per launch and copies
// every parameter as 8 bytes, which cannot pass a parameter struct).

static CUresult use_ctx(CUcontext ctx) {
	CUcontext cur = NULL;
	if (cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur == ctx)
		return CUDA_SUCCESS;
	return cuCtxSetCurrent(ctx);
}

static CUresult mnist_launch(CUcontext ctx, CUfunction f, unsigned gx, unsigned gy, unsigned gz,
		unsigned bx, unsigned by, unsigned bz, CUstream s, void *params) {
	CUresult r = use_ctx(ctx);
	if (r != CUDA_SUCCESS)
		return r;
	void *args[1] = {params};
	return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, 0, s, args, NULL);
}

static CUresult mnist_launch_dependent(CUcontext ctx, CUfunction f, unsigned gx, unsigned gy, unsigned gz,
		unsigned bx, unsigned by, unsigned bz, CUstream s, void *params) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : mnist_launch_ex_dependent(f, gx, gy, gz, bx, by, bz, s, params);
}

static CUresult mnist_htod(CUcontext ctx, CUdeviceptr dst, const void *src, size_t n, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuMemcpyHtoDAsync(dst, src, n, s);
}

static CUresult mnist_dtoh(CUcontext ctx, void *dst, CUdeviceptr src, size_t n, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuMemcpyDtoHAsync(dst, src, n, s);
}

static CUresult mnist_memset0(CUcontext ctx, CUdeviceptr dst, size_t n, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuMemsetD8Async(dst, 0, n, s);
}

static CUresult mnist_stream_sync(CUcontext ctx, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuStreamSynchronize(s);
}

static CUresult mnist_event_record(CUcontext ctx, CUevent e, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuEventRecord(e, s);
}

static CUresult mnist_event_sync(CUcontext ctx, CUevent e) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuEventSynchronize(e);
}

static CUresult mnist_host_alloc(CUcontext ctx, void **p, size_t n) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuMemAllocHost(p, n);
}

static CUresult mnist_host_free(CUcontext ctx, void *p) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuMemFreeHost(p);
}

static CUresult mnist_begin_capture(CUcontext ctx, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuStreamBeginCapture(s, CU_STREAM_CAPTURE_MODE_RELAXED);
}

static CUresult mnist_end_capture(CUcontext ctx, CUstream s, CUgraphExec *exec) {
	CUresult r = use_ctx(ctx);
	if (r != CUDA_SUCCESS)
		return r;
	CUgraph g = NULL;
	r = cuStreamEndCapture(s, &g);
	if (r != CUDA_SUCCESS)
		return r;
	r = cuGraphInstantiateWithFlags(exec, g, 0);
	cuGraphDestroy(g);
	return r;
}

static CUresult mnist_graph_launch(CUcontext ctx, CUgraphExec e, CUstream s) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuGraphLaunch(e, s);
}

static CUresult mnist_graph_destroy(CUcontext ctx, CUgraphExec e) {
	CUresult r = use_ctx(ctx);
	return r != CUDA_SUCCESS ? r : cuGraphExecDestroy(e);
}

// mnist_load_module loads a fatbin (or PTX) image with the driver's JIT
// logs and line information; on failure the error log is in errlog.
static CUresult mnist_load_module(CUmodule *mod, const void *image, char *errlog, size_t errlen,
		char *infolog, size_t infolen) {
	CUjit_option opts[5] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
		CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_GENERATE_LINE_INFO};
	void *vals[5] = {errlog, (void *)errlen, infolog, (void *)infolen, (void *)(size_t)1};
	errlog[0] = 0;
	infolog[0] = 0;
	return cuModuleLoadDataEx(mod, image, 5, opts, vals);
}

static CUresult mnist_module_function(CUfunction *f, CUmodule mod, const char *name) {
	return cuModuleGetFunction(f, mod, name);
}

static const char *mnist_err_name(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == NULL)
		return "CUDA_ERROR_UNKNOWN";
	return s;
}

static const char *mnist_err_string(CUresult r) {
	const char *s = NULL;
	if (cuGetErrorString(r, &s) != CUDA_SUCCESS || s == NULL)
		return "";
	return s;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/mnist-go/mnist/kernels"
	"github.com/mnist-go/mnist/nn"
	"gorgonia.org/cu"
)

func init() {
	nn.Register(Name, Priority, func() (nn.Backend, error) { return Open() })
}

// Available reports whether this binary was built with CUDA support.
const Available = true

// driverError turns a CUresult into an error naming op, or nil on success.
// A sticky error (an illegal address in a kernel, say) poisons the context
// for the rest of the process: it is recorded (see processFault) so that
// every backend of this process refuses further work and says why.
func driverError(op string, r C.CUresult) error {
	if r == C.CUDA_SUCCESS {
		return nil
	}
	err := &DriverError{Op: op, Code: int(r), Name: C.GoString(C.mnist_err_name(r)), Desc: C.GoString(C.mnist_err_string(r))}
	if stickyError(int(r)) {
		recordFault(err)
	}
	return err
}

// cuError turns an error from gorgonia.org/cu (its unexported cuResult, an
// int) into a DriverError naming op.
func cuError(op string, err error) error {
	if err == nil {
		return nil
	}
	if v := reflect.ValueOf(err); v.Kind() == reflect.Int {
		return driverError(op, C.CUresult(v.Int()))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// initError is the driver's cuInit result as an error wrapping ErrNoDevice.
func initError() error {
	if C.mnist_cuinit_called() == 0 {
		return fmt.Errorf("%w: cuInit was never called", ErrNoDevice)
	}
	if err := driverError("cuInit", C.mnist_cuinit_result()); err != nil {
		return fmt.Errorf("%w: %v", ErrNoDevice, err)
	}
	return nil
}

// withContext runs f on a locked OS thread with ctx current, for the calls
// that go through gorgonia.org/cu (each a separate cgo call).
func withContext(ctx cu.CUContext, f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(ctx); err != nil {
		return cuError("cuCtxSetCurrent", err)
	}
	return f()
}

// Probe describes device 0, or returns why there is no usable CUDA device
// (an error wrapping ErrNoDevice with the driver's reason). It opens the
// process's context (once: see openProcess) to read the free memory.
func Probe() (Info, error) {
	p, err := openProcess()
	if err != nil {
		return Info{}, err
	}
	info := p.info
	err = withContext(p.ctx, func() error {
		free, _, err := cu.MemInfo()
		info.FreeMemory = free
		return cuError("cuMemGetInfo", err)
	})
	return info, err
}

// process is what this process shares between its backends: device 0's
// primary context, retained once and kept until the process ends, and the
// kernel modules, loaded once into it. Creating a context costs about
// 100 ms and loading the modules more; a test binary opens hundreds of
// backends.
type process struct {
	dev   cu.Device
	ctx   cu.CUContext
	cctx  C.CUcontext
	info  Info
	funcs [numKernels]C.CUfunction
	// jitLog is what the driver said while loading the modules (empty
	// when it loaded machine code for this GPU without a word).
	jitLog string
}

var (
	processOnce sync.Once
	theProcess  *process
	processErr  error
)

// openProcess returns the process's context and modules, opening them on
// the first call; a failure is final for the process.
func openProcess() (*process, error) {
	processOnce.Do(func() { theProcess, processErr = newProcess() })
	if processErr != nil {
		return nil, processErr
	}
	if err := processFault(); err != nil {
		return nil, err
	}
	return theProcess, nil
}

func newProcess() (p *process, err error) {
	defer func() {
		// gorgonia.org/cu must not panic through us; make it an error.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("cuda: open device 0: %v", r)
		}
	}()
	if err := initError(); err != nil {
		return nil, err
	}
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDevice, cuError("cuDeviceGetCount", err))
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: the driver sees no device (check CUDA_VISIBLE_DEVICES)", ErrNoDevice)
	}
	p = &process{}
	if p.dev, err = cu.GetDevice(0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDevice, cuError("cuDeviceGet 0", err))
	}
	if p.info, err = describe(p.dev); err != nil {
		return nil, err
	}
	if p.ctx, err = p.dev.RetainPrimaryCtx(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDevice, cuError("cuDevicePrimaryCtxRetain", err))
	}
	p.cctx = *(*C.CUcontext)(unsafe.Pointer(&p.ctx))
	if err := withContext(p.ctx, p.loadModules); err != nil {
		p.dev.ReleasePrimaryCtx()
		return nil, fmt.Errorf("open device 0 (%s): %w", p.info, err)
	}
	return p, nil
}

// loadModules loads every kernel module's fatbin, with the driver's JIT
// logs: machine code for sm_80 and sm_90 loads as it is, other GPUs
// JIT-compile the PTX in it, and a JIT failure comes back with the log.
func (p *process) loadModules() error {
	const logBytes = 16 << 10
	errLog := (*C.char)(C.malloc(logBytes))
	infoLog := (*C.char)(C.malloc(logBytes))
	defer C.free(unsafe.Pointer(errLog))
	defer C.free(unsafe.Pointer(infoLog))
	var logs []string
	for _, m := range kernels.Modules {
		image := C.CBytes([]byte(m.Fatbin))
		var mod C.CUmodule
		r := C.mnist_load_module(&mod, image, errLog, logBytes, infoLog, logBytes)
		C.free(image)
		if info := strings.TrimSpace(C.GoString(infoLog)); info != "" {
			logs = append(logs, m.Name+": "+info)
		}
		if err := driverError("cuModuleLoadDataEx", r); err != nil {
			return fmt.Errorf("load the %s kernels (SASS for %s, else PTX for compute_80 that the driver JIT-compiles): %w; JIT log: %q",
				m.Name, strings.Join(kernels.SASSArchs, ", "), err, strings.TrimSpace(C.GoString(errLog)))
		}
		for _, e := range kernels.Entries(m.PTX) {
			for k, name := range kernelNames {
				if name != e.Name {
					continue
				}
				cname := C.CString(name)
				r := C.mnist_module_function(&p.funcs[k], mod, cname)
				C.free(unsafe.Pointer(cname))
				if err := driverError("cuModuleGetFunction "+name, r); err != nil {
					return err
				}
			}
		}
	}
	for k, f := range p.funcs {
		if f == nil {
			return fmt.Errorf("kernel %s is missing from the embedded modules: run make kernels", kernel(k))
		}
	}
	p.jitLog = strings.Join(logs, "\n")
	return nil
}

// The sticky fault of this process, if any: the first driver error after
// which the context is unusable.
var (
	faultMu sync.Mutex
	fault   error
)

func recordFault(err error) {
	faultMu.Lock()
	defer faultMu.Unlock()
	if fault == nil {
		fault = err
	}
}

// processFault returns the sticky fault as an error saying what it means.
func processFault() error {
	faultMu.Lock()
	defer faultMu.Unlock()
	if fault == nil {
		return nil
	}
	return fmt.Errorf("cuda: the GPU context of this process is unusable after %v: start a new process", fault)
}

func describe(dev cu.Device) (Info, error) {
	var info Info
	var err error
	if info.Name, err = dev.Name(); err != nil {
		return info, cuError("cuDeviceGetName", err)
	}
	if info.TotalMemory, err = dev.TotalMem(); err != nil {
		return info, cuError("cuDeviceTotalMem", err)
	}
	for _, a := range []struct {
		attr cu.DeviceAttribute
		dst  *int
	}{
		{cu.ComputeCapabilityMajor, &info.Major},
		{cu.ComputeCapabilityMinor, &info.Minor},
		{cu.MultiprocessorCount, &info.Multiprocs},
	} {
		if *a.dst, err = dev.Attribute(a.attr); err != nil {
			return info, cuError("cuDeviceGetAttribute", err)
		}
	}
	info.DriverVersion = cu.Version()
	return info, nil
}

// stagingBytes is the size of the pinned host buffer that uploads and
// downloads go through.
const stagingBytes = 4 << 20

// cudaDevice is the device interface over the CUDA driver: the process's
// context and modules (see process), one non-blocking stream of its own, a
// staging buffer for copies (pinned, or pageable when pinning is refused).
type cudaDevice struct {
	p       *process
	cctx    C.CUcontext
	stream  C.CUstream
	cstream cu.Stream
	funcs   *[numKernels]C.CUfunction
	sms     int

	staging       unsafe.Pointer // stagingBytes
	stagingPinned bool           // false: C.malloc'd, after cuMemAllocHost refused
	stagingBusy   C.CUevent      // recorded after the last copy out of staging
	event         cu.Event
	graphs        map[C.CUgraphExec]struct{}
}

// Open opens device 0 as a Backend, or returns why it cannot: no device
// (wrapping ErrNoDevice, with the driver's reason), modules the driver
// cannot load (with its JIT log), an earlier sticky fault in this process,
// or out of memory.
func Open() (*Backend, error) {
	mode, err := pdlMode(os.Getenv(PDLEnv)) // a bad value is said whether or not a GPU answers
	if err != nil {
		return nil, err
	}
	info, err := Probe()
	if err != nil {
		return nil, err
	}
	d, err := openDevice()
	if err != nil {
		return nil, err
	}
	b, err := newBackend(d, info.String())
	if err != nil || mode == 0 {
		return b, err
	}
	b.mlpPDL = mode
	if why := d.pdlRefusal(info); why != "" {
		b.desc += fmt.Sprintf("; %s=%d: loads reordered, no programmatic dependent launch (%s)", PDLEnv, mode, why)
	} else {
		b.dependentLaunch = true
		b.desc += fmt.Sprintf("; programmatic dependent launch (%s=%d)", PDLEnv, mode)
	}
	return b, nil
}

// pdlRefusal says why the fused MLP step's kernels cannot be launched with
// programmatic dependent launch here, or returns "" when they can: the
// machine code for compute capability 9.x is the only one compiled with
// the wait (kernels/build.sh: other GPUs run code from compute_80 PTX, in
// which a dependent launch would race), the driver needs cuLaunchKernelEx,
// and Record captures the launches into a CUDA graph, which is tried here
// with a kernel that touches no memory (mlp_first_f32 of no rows).
func (d *cudaDevice) pdlRefusal(info Info) string {
	if info.Major != 9 {
		return fmt.Sprintf("compute capability %d.%d: only the sm_90 code waits", info.Major, info.Minor)
	}
	if C.mnist_has_launch_ex() == 0 {
		return "the driver has no cuLaunchKernelEx"
	}
	p := mlpParams{pdl: 1}
	if err := d.beginCapture(); err != nil {
		return "stream capture: " + err.Error()
	}
	var err error
	for range 2 {
		if err == nil {
			err = d.launchDependent(kMLPFirst, [3]uint32{1, 1, 1}, [3]uint32{mlpThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p))
		}
	}
	g, endErr := d.endCapture()
	if err == nil {
		err = endErr
	}
	if err == nil {
		err = g.launch()
	}
	if err == nil {
		err = d.sync()
	}
	if g != nil {
		g.destroy()
	}
	if err != nil {
		return "a CUDA graph of dependent launches failed: " + err.Error()
	}
	return ""
}

func openDevice() (d *cudaDevice, err error) {
	defer func() {
		// gorgonia.org/cu must not panic through us; make it an error.
		if p := recover(); p != nil {
			err = fmt.Errorf("cuda: open device: %v", p)
		}
	}()
	p, err := openProcess()
	if err != nil {
		return nil, err
	}
	d = &cudaDevice{p: p, cctx: p.cctx, funcs: &p.funcs, sms: p.info.Multiprocs, graphs: map[C.CUgraphExec]struct{}{}}
	err = withContext(p.ctx, func() error {
		var err error
		if d.cstream, err = cu.MakeStream(cu.NonBlocking); err != nil {
			return cuError("cuStreamCreate", err)
		}
		d.stream = C.CUstream(unsafe.Pointer(d.cstream.C()))
		if d.event, err = cu.MakeEvent(cu.DisableTiming); err != nil {
			return cuError("cuEventCreate", err)
		}
		d.stagingBusy = *(*C.CUevent)(unsafe.Pointer(&d.event))
		d.stagingPinned = true
		if r := C.mnist_host_alloc(d.cctx, &d.staging, stagingBytes); r != C.CUDA_SUCCESS {
			// Pinned memory can be refused (a locked-memory limit, a
			// container): copies then go through pageable memory, slower
			// but correct, since the driver copies a pageable source
			// before cuMemcpyHtoDAsync returns.
			d.stagingPinned = false
			if d.staging = C.malloc(stagingBytes); d.staging == nil {
				return fmt.Errorf("allocate %d bytes of host staging memory: %w", stagingBytes,
					driverError("cuMemAllocHost", r))
			}
		}
		return nil
	})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("open device 0: %w", err)
	}
	return d, nil
}

// Compile-time checks that the cu handle types are exactly one C handle,
// which the conversions above rely on.
var (
	_ [unsafe.Sizeof(cu.CUContext{}) - unsafe.Sizeof(C.CUcontext(nil))]byte
	_ [unsafe.Sizeof(C.CUcontext(nil)) - unsafe.Sizeof(cu.CUContext{})]byte
	_ [unsafe.Sizeof(cu.Function{}) - unsafe.Sizeof(C.CUfunction(nil))]byte
	_ [unsafe.Sizeof(C.CUfunction(nil)) - unsafe.Sizeof(cu.Function{})]byte
	_ [unsafe.Sizeof(cu.Event{}) - unsafe.Sizeof(C.CUevent(nil))]byte
	_ [unsafe.Sizeof(C.CUevent(nil)) - unsafe.Sizeof(cu.Event{})]byte
)

func (d *cudaDevice) multiprocessors() int { return d.sms }

func (d *cudaDevice) fault() error { return processFault() }

func (d *cudaDevice) alloc(n int) (uint64, error) {
	var ptr cu.DevicePtr
	err := withContext(d.p.ctx, func() error {
		var err error
		ptr, err = cu.MemAlloc(int64(n))
		if err == nil {
			return nil
		}
		err = cuError(fmt.Sprintf("cuMemAlloc %d bytes", n), err)
		var de *DriverError
		if errors.As(err, &de) && de.Name == "CUDA_ERROR_OUT_OF_MEMORY" {
			if free, total, ierr := cu.MemInfo(); ierr == nil {
				err = fmt.Errorf("%w: asked for %.1f MiB, %.1f MiB of %.1f MiB free", err,
					float64(n)/(1<<20), float64(free)/(1<<20), float64(total)/(1<<20))
			}
		}
		return err
	})
	return uint64(ptr), err
}

func (d *cudaDevice) free(ptr uint64) error {
	if err := d.sync(); err != nil {
		return err
	}
	return withContext(d.p.ctx, func() error { return cuError("cuMemFree", cu.MemFree(cu.DevicePtr(ptr))) })
}

func (d *cudaDevice) zero(ptr uint64, n int) error {
	return driverError("cuMemsetD8Async", C.mnist_memset0(d.cctx, C.CUdeviceptr(ptr), C.size_t(n), d.stream))
}

// upload copies through the pinned staging buffer, chunk by chunk: each
// chunk waits until the previous copy out of staging is done, is copied in,
// and is queued; the last copy may still run when upload returns.
func (d *cudaDevice) upload(dst uint64, src []byte) error {
	staging := unsafe.Slice((*byte)(d.staging), stagingBytes)
	for off := 0; off < len(src); off += stagingBytes {
		if err := driverError("cuEventSynchronize", C.mnist_event_sync(d.cctx, d.stagingBusy)); err != nil {
			return err
		}
		n := copy(staging, src[off:min(off+stagingBytes, len(src))])
		if err := driverError("cuMemcpyHtoDAsync", C.mnist_htod(d.cctx, C.CUdeviceptr(dst+uint64(off)), d.staging, C.size_t(n), d.stream)); err != nil {
			return err
		}
		if err := driverError("cuEventRecord", C.mnist_event_record(d.cctx, d.stagingBusy, d.stream)); err != nil {
			return err
		}
	}
	return nil
}

// download waits for the queued work and copies through the staging buffer:
// the parts' copies are queued one after the other into it (each at a
// 16-byte boundary) and the stream is waited for once when they fit, once
// per 4 MiB otherwise. (Uploads queued before used the staging buffer too:
// the same stream runs their copies first.)
func (d *cudaDevice) download(parts ...hostCopy) error {
	staging := unsafe.Slice((*byte)(d.staging), stagingBytes)
	type pending struct {
		dst []byte
		at  int
	}
	var queued []pending
	used, waited := 0, false
	drain := func() error { // wait, then copy what is queued out
		waited = true
		if err := driverError("cuStreamSynchronize", C.mnist_stream_sync(d.cctx, d.stream)); err != nil {
			return err
		}
		for _, q := range queued {
			copy(q.dst, staging[q.at:q.at+len(q.dst)])
		}
		queued, used = queued[:0], 0
		return nil
	}
	for _, c := range parts {
		for off := 0; off < len(c.dst); {
			if used == stagingBytes {
				if err := drain(); err != nil {
					return err
				}
			}
			n := min(stagingBytes-used, len(c.dst)-off)
			if err := driverError("cuMemcpyDtoHAsync", C.mnist_dtoh(d.cctx, unsafe.Add(d.staging, used), C.CUdeviceptr(c.src+uint64(off)), C.size_t(n), d.stream)); err != nil {
				return err
			}
			queued = append(queued, pending{dst: c.dst[off : off+n], at: used})
			used = min(stagingBytes, (used+n+15)&^15)
			off += n
		}
	}
	if len(queued) > 0 || !waited {
		return drain()
	}
	return nil
}

func (d *cudaDevice) launch(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	if err := processFault(); err != nil {
		return err
	}
	r := C.mnist_launch(d.cctx, d.funcs[k], C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), d.stream, params)
	return driverError("cuLaunchKernel", r)
}

func (d *cudaDevice) launchDependent(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	if err := processFault(); err != nil {
		return err
	}
	r := C.mnist_launch_dependent(d.cctx, d.funcs[k], C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), d.stream, params)
	return driverError("cuLaunchKernelEx", r)
}

func (d *cudaDevice) sync() error {
	return driverError("cuStreamSynchronize", C.mnist_stream_sync(d.cctx, d.stream))
}

func (d *cudaDevice) beginCapture() error {
	return driverError("cuStreamBeginCapture", C.mnist_begin_capture(d.cctx, d.stream))
}

func (d *cudaDevice) endCapture() (graph, error) {
	var exec C.CUgraphExec
	if err := driverError("cuStreamEndCapture/cuGraphInstantiate", C.mnist_end_capture(d.cctx, d.stream, &exec)); err != nil {
		return nil, err
	}
	d.graphs[exec] = struct{}{}
	return &cudaGraph{d: d, exec: exec}, nil
}

// cudaGraph is an instantiated CUDA graph.
type cudaGraph struct {
	d    *cudaDevice
	exec C.CUgraphExec
}

func (g *cudaGraph) launch() error {
	return driverError("cuGraphLaunch", C.mnist_graph_launch(g.d.cctx, g.exec, g.d.stream))
}

func (g *cudaGraph) destroy() error {
	if _, ok := g.d.graphs[g.exec]; !ok {
		return nil
	}
	delete(g.d.graphs, g.exec)
	return driverError("cuGraphExecDestroy", C.mnist_graph_destroy(g.d.cctx, g.exec))
}

// close releases what this device owns: graphs, staging, event, stream.
// The process's context and modules stay for the next backend.
func (d *cudaDevice) close() error {
	var errs []error
	if d.stream != nil {
		errs = append(errs, d.sync())
	}
	for exec := range d.graphs {
		errs = append(errs, driverError("cuGraphExecDestroy", C.mnist_graph_destroy(d.cctx, exec)))
	}
	d.graphs = nil
	if d.staging != nil {
		if d.stagingPinned {
			errs = append(errs, driverError("cuMemFreeHost", C.mnist_host_free(d.cctx, d.staging)))
		} else {
			C.free(d.staging)
		}
		d.staging = nil
	}
	errs = append(errs, withContext(d.p.ctx, func() error {
		var errs []error
		if d.stagingBusy != nil {
			errs = append(errs, cuError("cuEventDestroy", cu.DestroyEvent(&d.event)))
		}
		if d.stream != nil {
			errs = append(errs, cuError("cuStreamDestroy", d.cstream.Destroy()))
		}
		return errors.Join(errs...)
	}))
	d.stream, d.stagingBusy = nil, nil
	return errors.Join(errs...)
}
