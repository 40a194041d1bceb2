package host

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

// Core implements the parts of nn.Backend that do not compute: buffers,
// transfers, and the sticky first error. A backend holds one (from NewCore),
// forwards Alloc, Free, Upload, Download and Sync to it, and starts every op
// with the op's …Args function (args.go), which runs nn's contract for it. Buffers
// record the Core that allocated them, so a Core must not be copied once in
// use.
//
// Upload and Download report their own misuse (wrong slice type, too long)
// by their return value only; op failures are sticky: the first is kept,
// later ops are skipped, and Sync and Download return it.
type Core struct {
	name   string // prefix of every error: the backend's registry name
	err    error
	closed bool
}

// NewCore returns a Core whose errors start with name.
func NewCore(name string) Core { return Core{name: name} }

// Err returns the sticky error, nil when every op so far succeeded.
func (c *Core) Err() error { return c.err }

// Fail records an error for op unless one is already kept.
func (c *Core) Fail(op, format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s: %s", c.name, op, fmt.Sprintf(format, args...))
	}
}

// Ready reports whether op may run: no earlier error and not closed.
func (c *Core) Ready(op string) bool {
	if c.closed {
		c.Fail(op, "the backend is closed")
	}
	return c.err == nil
}

// MarkClosed makes every later op fail; it reports whether the backend was
// open before.
func (c *Core) MarkClosed() bool {
	was := !c.closed
	c.closed = true
	return was
}

// Sync returns the first error an op met. Host ops run synchronously, so
// there is nothing to wait for.
func (c *Core) Sync() error { return c.err }

// Alloc returns a zeroed buffer of n elements of type t.
func (c *Core) Alloc(t nn.DType, n int) (nn.Buffer, error) {
	if c.closed {
		return nil, fmt.Errorf("%s: Alloc: the backend is closed", c.name)
	}
	b, err := NewBuffer(c, t, n)
	if err != nil {
		return nil, fmt.Errorf("%s: Alloc(%v, %d): %w", c.name, t, n, err)
	}
	return b, nil
}

// Wrap returns a buffer over src itself (no copy), as Alloc would own it.
func (c *Core) Wrap(src any) (nn.Buffer, error) {
	if c.closed {
		return nil, fmt.Errorf("%s: Wrap: the backend is closed", c.name)
	}
	b, err := WrapBuffer(c, src)
	if err != nil {
		return nil, fmt.Errorf("%s: Wrap: %w", c.name, err)
	}
	return b, nil
}

// Free releases a buffer Alloc returned. Freeing a view, a foreign buffer or
// a buffer twice is an error, kept like an op's.
func (c *Core) Free(buf nn.Buffer) {
	const op = "Free"
	if buf == nil {
		return
	}
	b, ok := c.own(op, "buffer", buf)
	if !ok {
		return
	}
	if !b.IsRoot() {
		c.Fail(op, "the buffer is a Slice view; free the buffer Alloc returned")
		return
	}
	b.release()
}

// Upload copies src ([]float32, []int32 or []uint8 matching dst's DType, at
// most dst.Len() long) to the start of dst.
func (c *Core) Upload(dst nn.Buffer, src any) error {
	b, err := c.owned(dst)
	if err != nil {
		return fmt.Errorf("%s: Upload: dst %w", c.name, err)
	}
	if err := copyTo(b, src, true); err != nil {
		return fmt.Errorf("%s: Upload: %w", c.name, err)
	}
	return nil
}

// Download returns the sticky error if there is one; otherwise it copies the
// start of src into dst ([]float32, []int32 or []uint8 matching src's DType,
// at most src.Len() long).
func (c *Core) Download(dst any, src nn.Buffer) error {
	if c.err != nil {
		return c.err
	}
	b, err := c.owned(src)
	if err != nil {
		return fmt.Errorf("%s: Download: src %w", c.name, err)
	}
	if err := copyTo(b, dst, false); err != nil {
		return fmt.Errorf("%s: Download: %w", c.name, err)
	}
	return nil
}

// copyTo copies between b and the host slice s: into b when up is set,
// out of b otherwise.
func copyTo(b *Buffer, s any, up bool) error {
	side := "dst"
	if up {
		side = "src"
	}
	switch s := s.(type) {
	case []float32:
		return copyData(b, b.f32, s, nn.Float32, side, up)
	case []int32:
		return copyData(b, b.i32, s, nn.Int32, side, up)
	case []uint8:
		return copyData(b, b.u8, s, nn.Uint8, side, up)
	}
	return fmt.Errorf("%s is a %T; want []float32, []int32 or []uint8", side, s)
}

// copyData is copyTo for a host slice s of the element type of data, the
// buffer's memory when its DType is t.
func copyData[T float32 | int32 | uint8](b *Buffer, data, s []T, t nn.DType, side string, up bool) error {
	if b.dtype != t {
		return fmt.Errorf("%s is %T but the buffer holds %v", side, s, b.dtype)
	}
	if len(s) > b.n {
		return fmt.Errorf("%s has %d elements, more than the buffer's %d", side, len(s), b.n)
	}
	if up {
		copy(data, s)
	} else {
		copy(s, data)
	}
	return nil
}

// owned returns buf as a live host buffer of this backend.
func (c *Core) owned(buf nn.Buffer) (*Buffer, error) {
	if buf == nil {
		return nil, errors.New("is nil")
	}
	b, ok := buf.(*Buffer)
	if !ok {
		return nil, fmt.Errorf("is a %T, not a buffer of this backend", buf)
	}
	if b.owner != c {
		return nil, errors.New("belongs to another backend")
	}
	if b.root.freed {
		return nil, errors.New("was freed")
	}
	return b, nil
}

func (c *Core) own(op, operand string, buf nn.Buffer) (*Buffer, bool) {
	b, err := c.owned(buf)
	if err != nil {
		c.Fail(op, "%s %v", operand, err)
		return nil, false
	}
	return b, true
}

// Own returns nil when buf is a live buffer of this backend (nn.Operands).
func (c *Core) Own(buf nn.Buffer) error {
	_, err := c.owned(buf)
	return err
}

// Overlap reports whether the first n elements of x and the first m of y
// share memory (nn.Operands). It compares addresses, so that buffers
// wrapped over overlapping slices count too.
func (c *Core) Overlap(x nn.Buffer, n int, y nn.Buffer, m int) bool {
	x0, y0 := start(x), start(y)
	return x0 < y0+uintptr(m)*4 && y0 < x0+uintptr(n)*4
}

// start returns the address of the first element of a float32 buffer.
func start(b nn.Buffer) uintptr {
	return uintptr(unsafe.Pointer(unsafe.SliceData(b.(*Buffer).f32)))
}

// Check records err, the result of one of nn's op checks, as op's error,
// after checking that op may run; it reports whether op may go on.
func (c *Core) Check(op string, err error) bool {
	if !c.Ready(op) {
		return false
	}
	if err != nil && c.err == nil {
		c.err = fmt.Errorf("%s: %w", c.name, err)
	}
	return c.err == nil
}

// f32 returns the first n elements of a checked float32 buffer (nil for nil).
func f32(b nn.Buffer, n int) []float32 {
	if b == nil {
		return nil
	}
	return b.(*Buffer).f32[:n:n]
}

// i32 is f32 for int32 buffers.
func i32(b nn.Buffer, n int) []int32 {
	if b == nil {
		return nil
	}
	return b.(*Buffer).i32[:n:n]
}

// u8 is f32 for uint8 buffers.
func u8(b nn.Buffer, n int) []uint8 {
	return b.(*Buffer).u8[:n:n]
}
