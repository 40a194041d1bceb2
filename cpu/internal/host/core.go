package host

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

// Core implements the parts of nn.Backend that do not compute: buffers,
// transfers, and the sticky first error. A backend holds one (from NewCore),
// forwards Alloc, Free, Upload, Download and Sync to it, and calls Ready and
// the operand checks (F32, I32, U8, …) at the start of every op. Buffers
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

// Dim checks that the dimension called name is not negative.
func (c *Core) Dim(op, name string, v int) bool {
	if v < 0 {
		c.Fail(op, "%s = %d is negative", name, v)
		return false
	}
	return true
}

// need returns rows·cols, or -1 after recording an error when it overflows.
func (c *Core) need(op, operand string, rows, cols int) int {
	if rows < 0 || cols < 0 || (rows > 0 && cols > math.MaxInt/rows) {
		c.Fail(op, "%s: %d×%d elements is out of range", operand, rows, cols)
		return -1
	}
	return rows * cols
}

// check validates that buf is a live buffer of this backend holding t and at
// least rows·cols elements. shape names the dimensions for the message: a
// name with "×" (like "M×K") describes rows×cols, any other one (like "N")
// describes cols alone, with rows 1.
func (c *Core) check(op, operand string, buf nn.Buffer, t nn.DType, rows, cols int, shape string) *Buffer {
	if buf == nil {
		c.Fail(op, "%s is nil", operand)
		return nil
	}
	b, ok := c.own(op, operand, buf)
	if !ok {
		return nil
	}
	if b.dtype != t {
		c.Fail(op, "%s holds %v, want %v", operand, b.dtype, t)
		return nil
	}
	n := c.need(op, operand, rows, cols)
	if n < 0 {
		return nil
	}
	if b.n < n {
		if strings.Contains(shape, "×") {
			c.Fail(op, "%s holds %d elements, but %s = %d×%d needs %d", operand, b.n, shape, rows, cols, n)
		} else {
			c.Fail(op, "%s holds %d elements, but %s needs %d", operand, b.n, shape, n)
		}
		return nil
	}
	return b
}

// F32 returns the first rows·cols elements of a float32 buffer, or nil after
// recording an error (see check for shape).
func (c *Core) F32(op, operand string, buf nn.Buffer, rows, cols int, shape string) []float32 {
	b := c.check(op, operand, buf, nn.Float32, rows, cols, shape)
	if b == nil {
		return nil
	}
	n := rows * cols
	return b.f32[:n:n]
}

// I32 is F32 for int32 buffers.
func (c *Core) I32(op, operand string, buf nn.Buffer, rows, cols int, shape string) []int32 {
	b := c.check(op, operand, buf, nn.Int32, rows, cols, shape)
	if b == nil {
		return nil
	}
	n := rows * cols
	return b.i32[:n:n]
}

// U8 is F32 for uint8 buffers.
func (c *Core) U8(op, operand string, buf nn.Buffer, rows, cols int, shape string) []uint8 {
	b := c.check(op, operand, buf, nn.Uint8, rows, cols, shape)
	if b == nil {
		return nil
	}
	n := rows * cols
	return b.u8[:n:n]
}

// Whole returns all of a float32 buffer, or nil after recording an error.
func (c *Core) Whole(op, operand string, buf nn.Buffer) []float32 {
	if buf == nil {
		c.Fail(op, "%s is nil", operand)
		return nil
	}
	return c.F32(op, operand, buf, 1, buf.Len(), "its length")
}

// Overlap records an error and returns true when the non-empty slices x and y
// share memory; an op that reads x while writing y cannot work then.
func (c *Core) Overlap(op, xname string, x []float32, yname string, y []float32) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	x0 := uintptr(unsafe.Pointer(unsafe.SliceData(x)))
	y0 := uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	x1 := x0 + uintptr(len(x))*4
	y1 := y0 + uintptr(len(y))*4
	if x0 < y1 && y0 < x1 {
		c.Fail(op, "%s overlaps %s; the op cannot run in place", xname, yname)
		return true
	}
	return false
}

// Exact returns all of a float32 buffer that must hold exactly n elements
// (the optimisers' parameter, gradient and state buffers), or nil after
// recording an error.
func (c *Core) Exact(op, operand string, buf nn.Buffer, n int, what string) []float32 {
	s := c.F32(op, operand, buf, 1, n, what)
	if s != nil && buf.Len() != n {
		c.Fail(op, "%s holds %d elements, but %s is %d: the buffers must have equal lengths", operand, buf.Len(), what, n)
		return nil
	}
	return s
}

// WholeU8 returns all of a uint8 buffer, or nil after recording an error.
func (c *Core) WholeU8(op, operand string, buf nn.Buffer) []uint8 {
	if buf == nil {
		c.Fail(op, "%s is nil", operand)
		return nil
	}
	return c.U8(op, operand, buf, 1, buf.Len(), "its length")
}
