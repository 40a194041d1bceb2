// Package cpu is the pure-Go backend, registered as "cpu": no cgo, no
// assembly. Its GEMM packs and blocks its operands around a small
// micro-kernel (kernel.go; a SIMD version can replace it behind the same
// contract), skips the zeros of sparse operands (MNIST images are 81%
// zeros), and splits each op across a persistent pool of GOMAXPROCS
// workers. After the first call at a shape, ops allocate nothing.
//
// Zeros in A or B may be skipped rather than multiplied, so 0·Inf and 0·NaN
// in a product contribute 0 instead of NaN (as in reference BLAS); NaN and
// Inf elsewhere propagate as usual.
//
// The readable reference for every op is the package nn/naive;
// nn/backendtest checks this backend against it.
package cpu

import (
	"fmt"
	"runtime"
	"time"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/host"
)

func init() {
	nn.Register("cpu", 0, func() (nn.Backend, error) { return New(), nil })
}

// Buffer is the cpu backend's buffer: host memory with Slice views.
// Float32s, Int32s and Uint8s expose the memory without copying.
type Buffer = host.Buffer

// Backend is the pure-Go nn.Backend. Ops run synchronously on the calling
// goroutine and the pool's helpers; like every backend it is not safe for
// concurrent use.
type Backend struct {
	core   host.Core // buffers, transfers and the sticky error
	pool   *pool
	device string

	// Scratch kept between calls so that ops do not allocate.
	packd    []float32 // packed panels of the GEMM's D operand
	gemmJob  gemmJob
	scaleJob scaleJob
	mapJob   mapJob
	optJob   optJob
	gather   gatherJob
	colsums  colSumsJob
	exps     []float64 // one row of softmax exponentials
	conv     convScratch

	forcePath *path // tests: compute every GEMM this way
}

var (
	_ nn.Backend     = (*Backend)(nil)
	_ nn.HostWrapper = (*Backend)(nil)
)

// Option configures New.
type Option func(*config)

type config struct {
	threads int
	spin    time.Duration
}

// WithThreads sets the number of threads ops are split across (default
// GOMAXPROCS; 1 runs everything on the calling goroutine). With more than
// one, the backend measures from time to time whether the helper threads
// actually speed ops up (on a machine busy with other work they can slow
// them down) and runs on the calling goroutine alone while they do not.
func WithThreads(n int) Option { return func(c *config) { c.threads = n } }

// WithSpin sets how long idle workers poll for the next op before they
// sleep (default 100µs). Polling keeps the hand-off between the ops of a
// training step at well under a microsecond; waking a sleeping thread costs
// tens.
func WithSpin(d time.Duration) Option { return func(c *config) { c.spin = d } }

// New returns a cpu backend.
func New(opts ...Option) *Backend {
	cfg := config{threads: runtime.GOMAXPROCS(0), spin: 100 * time.Microsecond}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.threads = max(cfg.threads, 1)
	b := &Backend{core: host.NewCore("cpu"), pool: newPool(cfg.threads, cfg.spin)}
	threads := fmt.Sprintf("%d threads", cfg.threads)
	if cfg.threads == 1 {
		threads = "1 thread"
	}
	b.device = fmt.Sprintf("%s (%s, %s)", cpuModel(), threads, defaultKernels.describe())
	// A backend dropped without Close still stops its helpers.
	runtime.AddCleanup(b, func(p *pool) { p.stop() }, b.pool)
	return b
}

// Alloc returns a zeroed buffer of n elements.
func (b *Backend) Alloc(t nn.DType, n int) (nn.Buffer, error) { return b.core.Alloc(t, n) }

// Wrap returns a buffer over src ([]float32, []int32 or []uint8) itself,
// without copying: host memory is the CPU backend's memory. See nn.HostWrapper.
func (b *Backend) Wrap(src any) (nn.Buffer, error) { return b.core.Wrap(src) }

// Free releases a buffer Alloc returned; freeing a Slice view, a buffer of
// another backend or a buffer twice is an error, reported by Sync.
func (b *Backend) Free(buf nn.Buffer) { b.core.Free(buf) }

// Upload copies src ([]float32, []int32 or []uint8 matching dst's DType, at
// most dst.Len() long) to the start of dst. Its errors are returned, not kept.
func (b *Backend) Upload(dst nn.Buffer, src any) error { return b.core.Upload(dst, src) }

// Download returns the first error an op met, if any; otherwise it copies
// the start of src into dst ([]float32, []int32 or []uint8 matching src's
// DType, at most src.Len() long).
func (b *Backend) Download(dst any, src nn.Buffer) error { return b.core.Download(dst, src) }

// Sync returns the first error an op met. Ops run synchronously, so there is
// nothing to wait for.
func (b *Backend) Sync() error { return b.core.Sync() }

// Name returns "cpu".
func (b *Backend) Name() string { return "cpu" }

// Device describes the processor, the threads and the kernels, e.g.
// "AMD EPYC (2 threads, AVX-512 kernels)" or "Apple M2 (8 threads, pure Go)".
func (b *Backend) Device() string { return b.device }

// Threads returns the number of threads ops are split across.
func (b *Backend) Threads() int { return b.pool.workers }

// Close stops the worker pool; the backend and its buffers become invalid.
func (b *Backend) Close() error {
	if b.core.MarkClosed() {
		b.pool.stop()
	}
	return nil
}

// minParallelWork is the least work (in multiply-adds or elements) worth
// splitting across workers: below it the hand-off costs more than it saves.
const minParallelWork = 8 << 10

// Chunk sizes of the elementwise ops: large enough that claiming a chunk
// (an atomic add) is noise, small enough that two workers share the work.
const (
	elemsPerChunk = 4096
	colsPerChunk  = 64
)

// rowsPerChunk returns how many rows of cols elements make a chunk.
func rowsPerChunk(cols int) int { return max(1, elemsPerChunk/max(cols, 1)) }

// runJob runs j on the pool, or on the caller alone when work is small.
func (b *Backend) runJob(j job, work int) {
	if work < minParallelWork || b.pool.workers == 1 {
		runInline(j)
		return
	}
	b.pool.run(j)
}
