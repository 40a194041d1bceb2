// Package naive is the plainest possible implementation of nn.Backend: each
// op is the loop its definition describes, with float64 accumulators for
// every reduction (GEMM dot products, softmax sums, column sums). It is slow
// on purpose. The conformance suite (nn/backendtest) checks every other
// backend against it, and the benchmark harness uses it as the "naive Go"
// baseline.
//
// It is not registered in the nn registry, so nn.Open("auto") never picks
// it; construct it with New.
package naive

import (
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/host"
)

// Buffer is the naive backend's buffer: host memory with Slice views.
// Float32s, Int32s and Uint8s expose the memory without copying.
type Buffer = host.Buffer

// Backend is the reference implementation of nn.Backend. Like every backend
// it is not safe for concurrent use.
type Backend struct {
	core host.Core // buffers, transfers and the sticky error
}

var _ nn.Backend = (*Backend)(nil)

// New returns a naive backend.
func New() *Backend { return &Backend{core: host.NewCore("naive")} }

// Alloc returns a zeroed buffer of n elements.
func (b *Backend) Alloc(t nn.DType, n int) (nn.Buffer, error) { return b.core.Alloc(t, n) }

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

// Name returns "naive".
func (b *Backend) Name() string { return "naive" }

// Device describes the implementation.
func (b *Backend) Device() string { return "reference loops (pure Go, 1 thread)" }

// Close makes the backend unusable; its buffers become invalid.
func (b *Backend) Close() error {
	b.core.MarkClosed()
	return nil
}
