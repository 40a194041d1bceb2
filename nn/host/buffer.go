// Package host holds what the pure-Go backends (cpu and nn/naive) share:
// buffers in host memory with Slice views, the sticky-error bookkeeping, and
// every op's operands as host slices once nn's contract for the op holds.
package host

import (
	"fmt"

	"github.com/mnist-go/mnist/nn"
)

// Buffer is an nn.Buffer in host memory. Exactly one of its slices is set,
// matching its DType. A view made by Slice shares memory with the buffer Alloc
// returned (its root), so freeing the root invalidates every view of it.
type Buffer struct {
	owner any     // the backend that allocated the root
	root  *Buffer // the buffer Alloc returned; itself for a root
	dtype nn.DType
	off   int // offset of this view in root, in elements
	n     int // length in elements
	freed bool

	f32 []float32
	i32 []int32
	u8  []uint8
}

// NewBuffer allocates a zeroed root buffer of n elements owned by owner.
func NewBuffer(owner any, t nn.DType, n int) (*Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("negative length %d", n)
	}
	b := &Buffer{owner: owner, dtype: t, n: n}
	b.root = b
	switch t {
	case nn.Float32:
		b.f32 = make([]float32, n)
	case nn.Int32:
		b.i32 = make([]int32, n)
	case nn.Uint8:
		b.u8 = make([]uint8, n)
	default:
		return nil, fmt.Errorf("unsupported element type %v", t)
	}
	return b, nil
}

// WrapBuffer returns a root buffer owned by owner over src itself ([]float32,
// []int32 or []uint8), without copying.
func WrapBuffer(owner any, src any) (*Buffer, error) {
	b := &Buffer{owner: owner}
	b.root = b
	switch v := src.(type) {
	case []float32:
		b.dtype, b.n, b.f32 = nn.Float32, len(v), v
	case []int32:
		b.dtype, b.n, b.i32 = nn.Int32, len(v), v
	case []uint8:
		b.dtype, b.n, b.u8 = nn.Uint8, len(v), v
	default:
		return nil, fmt.Errorf("cannot wrap %T: want []float32, []int32 or []uint8", src)
	}
	return b, nil
}

// DType returns the element type.
func (b *Buffer) DType() nn.DType { return b.dtype }

// Len returns the length in elements.
func (b *Buffer) Len() int { return b.n }

// Slice returns a view of elements [off, off+n) sharing memory with b. It
// panics when the range is out of bounds, like a Go slice expression.
func (b *Buffer) Slice(off, n int) nn.Buffer {
	if off < 0 || n < 0 || off > b.n || n > b.n-off {
		panic(fmt.Sprintf("host.Buffer.Slice(%d, %d): out of range for a buffer of %d elements", off, n, b.n))
	}
	v := &Buffer{owner: b.owner, root: b.root, dtype: b.dtype, off: b.off + off, n: n}
	switch {
	case b.f32 != nil:
		v.f32 = b.f32[off : off+n : off+n]
	case b.i32 != nil:
		v.i32 = b.i32[off : off+n : off+n]
	case b.u8 != nil:
		v.u8 = b.u8[off : off+n : off+n]
	}
	return v
}

// Float32s returns the view's memory (zero copy) when it holds float32, else nil.
func (b *Buffer) Float32s() []float32 { return b.f32 }

// Int32s returns the view's memory (zero copy) when it holds int32, else nil.
func (b *Buffer) Int32s() []int32 { return b.i32 }

// Uint8s returns the view's memory (zero copy) when it holds uint8, else nil.
func (b *Buffer) Uint8s() []uint8 { return b.u8 }

// IsRoot reports whether b is a buffer Alloc returned rather than a view.
func (b *Buffer) IsRoot() bool { return b.root == b }

// release drops the memory of a root buffer; its views see freed.
func (b *Buffer) release() {
	b.freed = true
	b.f32, b.i32, b.u8 = nil, nil, nil
}
