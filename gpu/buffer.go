package gpu

import (
	"fmt"

	"github.com/mnist-go/mnist/nn"
)

// allocation is one device allocation made by Alloc.
type allocation struct {
	ptr   uint64
	bytes int
	freed bool
}

// buffer is an nn.Buffer in device memory: a view of n elements at ptr
// inside an allocation (the whole of it when view is false).
type buffer struct {
	owner *Backend
	alloc *allocation
	ptr   uint64
	n     int
	dtype nn.DType
	view  bool
}

var _ nn.Buffer = (*buffer)(nil)

func (b *buffer) DType() nn.DType { return b.dtype }
func (b *buffer) Len() int        { return b.n }

// Slice returns the view of elements [off, off+n); it panics when the range
// is out of bounds, like a Go slice.
func (b *buffer) Slice(off, n int) nn.Buffer {
	if off < 0 || n < 0 || off+n > b.n {
		panic(fmt.Sprintf("gpu: Slice(%d, %d) of a %d-element buffer", off, n, b.n))
	}
	return &buffer{owner: b.owner, alloc: b.alloc, ptr: b.ptr + uint64(off*b.dtype.Size()), n: n, dtype: b.dtype, view: true}
}

// end is the device address just past the buffer's first n elements.
func (b *buffer) end(n int) uint64 { return b.ptr + uint64(n*b.dtype.Size()) }

// overlaps reports whether the first n elements of b and the first m of c
// share memory.
func overlaps(b *buffer, n int, c *buffer, m int) bool {
	if b == nil || c == nil || b.alloc != c.alloc || n == 0 || m == 0 {
		return false
	}
	return b.ptr < c.end(m) && c.ptr < b.end(n)
}
