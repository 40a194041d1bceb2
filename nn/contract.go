package nn

import (
	"fmt"
	"math"
	"strings"
)

// The operand contract of every Backend op, written once: the checks below
// are what every backend (cpu, cuda, and the naive reference) runs before
// an op computes anything, so that all of them accept and reject exactly the
// same calls with the same message. Each checks, in a fixed order (the first
// problem found is the one reported):
//
//   - every dimension is in [0, MaxInt32] (the CUDA kernels index with int32);
//   - every buffer is a live buffer of the backend (Operands.Own) holding the
//     element type the op reads and at least the elements its shape needs
//     (a buffer may be longer);
//   - an output overlaps no input the op reads while writing it
//     (Operands.Overlap), where the op documents so;
//   - the op's own conditions (a softmax needs a class, Adam counts from 1).
//
// What depends on the buffers' contents (labels, order entries and argmax
// entries in range) is part of each op's contract too, but only the backend
// can read them: host backends check them before computing, a GPU in its
// kernels; both report them by Sync (see Backend).

// Operands is what an op's check needs from the backend that runs it: which
// buffers are its own, and where they lie.
type Operands interface {
	// Own returns nil when b is a live buffer of this backend, or an error
	// that says what b is instead ("was freed", "belongs to another backend").
	Own(b Buffer) error
	// Overlap reports whether the first n elements of x and the first m of
	// y (both owned) share memory.
	Overlap(x Buffer, n int, y Buffer, m int) bool
}

// maxDim is the largest dimension an op accepts.
const maxDim = math.MaxInt32

// check collects the first operand error of one op.
type check struct {
	op  string
	o   Operands
	err error
}

func (c *check) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: %s", c.op, fmt.Sprintf(format, args...))
	}
}

// dim checks the dimension called name.
func (c *check) dim(name string, v int) {
	if c.err != nil {
		return
	}
	if v < 0 {
		c.fail("%s = %d is negative", name, v)
	} else if v > maxDim {
		c.fail("%s = %d is larger than %d", name, v, maxDim)
	}
}

// buf checks that b is a live buffer of type t with at least rows·cols
// elements. shape names the dimensions for the message: a name with "×"
// (like "M×K") describes rows×cols, any other one (like "N") cols alone.
func (c *check) buf(operand string, b Buffer, t DType, rows, cols int, shape string) {
	if c.err != nil {
		return
	}
	if b == nil {
		c.fail("%s is nil", operand)
		return
	}
	if err := c.o.Own(b); err != nil {
		c.fail("%s %v", operand, err)
		return
	}
	if b.DType() != t {
		c.fail("%s holds %v, want %v", operand, b.DType(), t)
		return
	}
	if rows < 0 || cols < 0 || (rows > 0 && cols > math.MaxInt/rows) {
		c.fail("%s: %d×%d elements is out of range", operand, rows, cols)
		return
	}
	if n := rows * cols; b.Len() < n {
		if strings.Contains(shape, "×") {
			c.fail("%s holds %d elements, but %s = %d×%d needs %d", operand, b.Len(), shape, rows, cols, n)
		} else {
			c.fail("%s holds %d elements, but %s needs %d", operand, b.Len(), shape, n)
		}
	}
}

// opt is buf for an optional operand: nil is allowed.
func (c *check) opt(operand string, b Buffer, t DType, rows, cols int, shape string) {
	if b != nil {
		c.buf(operand, b, t, rows, cols, shape)
	}
}

// whole checks that b is a live buffer of type t, all of which the op uses.
func (c *check) whole(operand string, b Buffer, t DType) {
	c.buf(operand, b, t, 1, 0, "")
}

// equal checks that b is a float32 buffer of exactly n elements, the length
// of the buffer called what.
func (c *check) equal(operand string, b Buffer, n int, what string) {
	c.buf(operand, b, Float32, 1, n, what)
	if c.err == nil && b.Len() != n {
		c.fail("%s holds %d elements, but %s is %d: the buffers must have equal lengths", operand, b.Len(), what, n)
	}
}

// apart checks that the first n elements of out share no memory with the
// first m of in (either may be nil).
func (c *check) apart(outName string, out Buffer, n int, inName string, in Buffer, m int) {
	if c.err == nil && out != nil && in != nil && n > 0 && m > 0 && c.o.Overlap(out, n, in, m) {
		c.fail("%s overlaps %s; the op cannot run in place", outName, inName)
	}
}

// fits checks that a buffer of the product of dims elements can be indexed
// with an int32.
func (c *check) fits(what string, dims ...int) {
	if c.err == nil && !indexable(dims...) {
		c.fail("%s: its buffers are too large (more than %d elements)", what, maxDim)
	}
}

// indexable reports whether the product of dims is at most maxDim.
func indexable(dims ...int) bool {
	p := 1
	for _, d := range dims {
		if d != 0 && p > maxDim/d {
			return false
		}
		p *= d
	}
	return true
}

// Check checks a Gemm's operands: op(A), op(B), C, and Bias and Mask when
// set, for M, N and K; C overlaps none of the inputs.
func (g Gemm) Check(o Operands) error {
	c := check{op: "Gemm", o: o}
	c.dim("M", g.M)
	c.dim("N", g.N)
	c.dim("K", g.K)
	if g.TransA {
		c.buf("A", g.A, Float32, g.K, g.M, "K×M")
	} else {
		c.buf("A", g.A, Float32, g.M, g.K, "M×K")
	}
	if g.TransB {
		c.buf("B", g.B, Float32, g.N, g.K, "N×K")
	} else {
		c.buf("B", g.B, Float32, g.K, g.N, "K×N")
	}
	c.buf("C", g.C, Float32, g.M, g.N, "M×N")
	c.opt("Bias", g.Bias, Float32, 1, g.N, "N")
	c.opt("Mask", g.Mask, Float32, g.M, g.N, "M×N")
	mn := g.M * g.N
	c.apart("C", g.C, mn, "A", g.A, g.M*g.K)
	c.apart("C", g.C, mn, "B", g.B, g.K*g.N)
	c.apart("C", g.C, mn, "Bias", g.Bias, g.N)
	c.apart("C", g.C, mn, "Mask", g.Mask, mn)
	return c.err
}

// CheckReLU checks Backend.ReLU: n elements of x.
func CheckReLU(o Operands, x Buffer, n int) error {
	c := check{op: "ReLU", o: o}
	c.dim("n", n)
	c.buf("x", x, Float32, 1, n, "n")
	return c.err
}

// CheckReLUBackward checks Backend.ReLUBackward: n elements of grad and of
// out (which may be the same buffer: the op is elementwise).
func CheckReLUBackward(o Operands, grad, out Buffer, n int) error {
	c := check{op: "ReLUBackward", o: o}
	c.dim("n", n)
	c.buf("grad", grad, Float32, 1, n, "n")
	c.buf("out", out, Float32, 1, n, "n")
	return c.err
}

// CheckSoftmaxCrossEntropy checks Backend.SoftmaxCrossEntropy: loss (one
// element), logits (rows×cols), int32 labels (rows), grad (rows×cols, when
// not nil), and at least one class when there are rows.
func CheckSoftmaxCrossEntropy(o Operands, loss, grad, logits, labels Buffer, rows, cols int) error {
	c := check{op: "SoftmaxCrossEntropy", o: o}
	c.dim("rows", rows)
	c.dim("cols", cols)
	c.buf("loss", loss, Float32, 1, 1, "one element")
	c.buf("logits", logits, Float32, rows, cols, "rows×cols")
	c.buf("labels", labels, Int32, 1, rows, "rows")
	c.opt("grad", grad, Float32, rows, cols, "rows×cols")
	if c.err == nil && rows > 0 && cols == 0 {
		c.fail("cols is 0: a softmax needs at least one class")
	}
	return c.err
}

// CheckColumnSums checks Backend.ColumnSums: dst (cols) and src
// (rows×cols), apart.
func CheckColumnSums(o Operands, dst, src Buffer, rows, cols int) error {
	c := check{op: "ColumnSums", o: o}
	c.dim("rows", rows)
	c.dim("cols", cols)
	c.buf("dst", dst, Float32, 1, cols, "cols")
	c.buf("src", src, Float32, rows, cols, "rows×cols")
	c.apart("dst", dst, cols, "src", src, rows*cols)
	return c.err
}

// CheckArgmax checks Backend.Argmax: int32 dst (rows) and src (rows×cols),
// with at least one column when there are rows.
func CheckArgmax(o Operands, dst, src Buffer, rows, cols int) error {
	c := check{op: "Argmax", o: o}
	c.dim("rows", rows)
	c.dim("cols", cols)
	c.buf("dst", dst, Int32, 1, rows, "rows")
	c.buf("src", src, Float32, rows, cols, "rows×cols")
	if c.err == nil && rows > 0 && cols == 0 {
		c.fail("cols is 0: there is no largest element")
	}
	return c.err
}

// CheckGather checks Backend.Gather: x (rows×pixels), int32 y (rows), int32
// order (start+rows), uint8 images and labels (the whole data set), and
// images of at least one pixel (the data set holds images.Len()/pixels of
// them). That every order entry of the batch names an image and a label is
// checked on the data, by the backend.
func CheckGather(o Operands, x, y, images, labels, order Buffer, start, rows, pixels int) error {
	c := check{op: "Gather", o: o}
	c.dim("start", start)
	c.dim("rows", rows)
	c.dim("pixels", pixels)
	c.dim("start+rows", start+rows)
	if c.err == nil && pixels == 0 {
		c.fail("pixels is 0: an image has at least one pixel")
	}
	c.buf("x", x, Float32, rows, pixels, "rows×pixels")
	c.buf("y", y, Int32, 1, rows, "rows")
	c.buf("order", order, Int32, 1, start+rows, "start+rows")
	c.whole("images", images, Uint8)
	c.whole("labels", labels, Uint8)
	return c.err
}

// CheckGatherAffine checks Backend.GatherAffine as CheckGather does a
// Gather, with images of height×width pixels (both at least 1) and float32
// affine ((start+rows)×6, apart from x).
func CheckGatherAffine(o Operands, x, y, images, labels, order, affine Buffer, start, rows, height, width int) error {
	c := check{op: "GatherAffine", o: o}
	c.dim("start", start)
	c.dim("rows", rows)
	c.dim("height", height)
	c.dim("width", width)
	c.dim("start+rows", start+rows)
	if c.err == nil && (height == 0 || width == 0) {
		c.fail("%d×%d images: an image has at least one pixel", height, width)
	}
	c.fits("GatherAffine", height, width)
	c.fits("GatherAffine", start+rows, AffineParams)
	pixels := height * width
	c.buf("x", x, Float32, rows, pixels, "rows×pixels")
	c.buf("y", y, Int32, 1, rows, "rows")
	c.buf("order", order, Int32, 1, start+rows, "start+rows")
	c.buf("affine", affine, Float32, start+rows, AffineParams, "(start+rows)×6")
	c.whole("images", images, Uint8)
	c.whole("labels", labels, Uint8)
	c.apart("x", x, rows*pixels, "affine", affine, (start+rows)*AffineParams)
	return c.err
}

// conv checks a convolution's geometry: valid, and its buffers indexable
// with an int32.
func (c *check) conv(g ConvGeom) {
	if err := g.Validate(); err != nil {
		c.fail("%v", err)
	}
	// The name is formatted only on failure: a batch-1 classifier calls
	// this per image and allocates nothing.
	if c.err == nil && (!indexable(g.Batch, g.H, g.W, g.C) || !indexable(g.Batch, g.OutH(), g.OutW(), g.C, g.KH, g.KW)) {
		c.fail("convolution %+v: its buffers are too large (more than %d elements)", g, maxDim)
	}
}

// pool checks a pooling's geometry as conv does a convolution's.
func (c *check) pool(g PoolGeom) {
	if err := g.Validate(); err != nil {
		c.fail("%v", err)
	}
	if c.err == nil && !indexable(g.Batch, g.H, g.W, g.C) {
		c.fail("pooling %+v: its buffers are too large (more than %d elements)", g, maxDim)
	}
}

// CheckIm2Col checks Backend.Im2Col: cols (Rows×Cols) and x (the NHWC
// batch), apart.
func CheckIm2Col(o Operands, cols, x Buffer, g ConvGeom) error {
	c := check{op: "Im2Col", o: o}
	c.conv(g)
	c.buf("cols", cols, Float32, g.Rows(), g.Cols(), "Rows×Cols")
	c.buf("x", x, Float32, 1, g.InputLen(), "Batch·H·W·C")
	c.apart("cols", cols, g.Rows()*g.Cols(), "x", x, g.InputLen())
	return c.err
}

// CheckCol2Im checks Backend.Col2Im: dx (the NHWC batch) and cols
// (Rows×Cols), apart.
func CheckCol2Im(o Operands, dx, cols Buffer, g ConvGeom) error {
	c := check{op: "Col2Im", o: o}
	c.conv(g)
	c.buf("dx", dx, Float32, 1, g.InputLen(), "Batch·H·W·C")
	c.buf("cols", cols, Float32, g.Rows(), g.Cols(), "Rows×Cols")
	c.apart("dx", dx, g.InputLen(), "cols", cols, g.Rows()*g.Cols())
	return c.err
}

// CheckMaxPool2D checks Backend.MaxPool2D: y (output-sized) and x
// (input-sized), apart, and int32 argmax (output-sized) when not nil.
func CheckMaxPool2D(o Operands, y, argmax, x Buffer, g PoolGeom) error {
	c := check{op: "MaxPool2D", o: o}
	c.pool(g)
	c.buf("y", y, Float32, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	c.buf("x", x, Float32, 1, g.InputLen(), "Batch·H·W·C")
	c.opt("argmax", argmax, Int32, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	c.apart("y", y, g.OutputLen(), "x", x, g.InputLen())
	return c.err
}

// CheckMaxPool2DBackward checks Backend.MaxPool2DBackward: dx (input-sized)
// and dy (output-sized), apart, and int32 argmax (output-sized). That every
// argmax entry lies inside its window is checked on the data, by the backend.
func CheckMaxPool2DBackward(o Operands, dx, dy, argmax Buffer, g PoolGeom) error {
	c := check{op: "MaxPool2DBackward", o: o}
	c.pool(g)
	c.buf("dx", dx, Float32, 1, g.InputLen(), "Batch·H·W·C")
	c.buf("dy", dy, Float32, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	c.buf("argmax", argmax, Int32, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	c.apart("dx", dx, g.InputLen(), "dy", dy, g.OutputLen())
	return c.err
}

// CheckSGD checks Backend.SGD: float32 params of at most MaxInt32
// elements, and grads, and velocity when momentum is not 0, of its length.
func CheckSGD(o Operands, params, grads, velocity Buffer, momentum float32) error {
	c := check{op: "SGD", o: o}
	c.whole("params", params, Float32)
	if c.err != nil {
		return c.err
	}
	n := params.Len()
	c.dim("len(params)", n)
	c.equal("grads", grads, n, "len(params)")
	if momentum != 0 {
		c.equal("velocity", velocity, n, "len(params)")
	}
	return c.err
}

// CheckAdam checks Backend.Adam: step t ≥ 1, float32 params of at most
// MaxInt32 elements, and grads, m and v of its length.
func CheckAdam(o Operands, params, grads, m, v Buffer, t int) error {
	c := check{op: "Adam", o: o}
	if t < 1 {
		c.fail("step t = %d; it counts this update and starts at 1", t)
	}
	c.whole("params", params, Float32)
	if c.err != nil {
		return c.err
	}
	n := params.Len()
	c.dim("len(params)", n)
	c.equal("grads", grads, n, "len(params)")
	c.equal("m", m, n, "len(params)")
	c.equal("v", v, n, "len(params)")
	return c.err
}
