package gpu

import (
	"math"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

// The convolution, pooling and augmentation ops (kernels/conv.cu). A
// convolution is Im2Col then Gemm (see nn.ConvGeom); the kernels here only
// move data, one thread per output element.

// convGeom checks g for op; its buffers must be indexable with int32.
func (b *Backend) convGeom(op string, g nn.ConvGeom) bool {
	if err := g.Validate(); err != nil {
		b.failf(op, "%v", err)
		return false
	}
	return b.dims(op, "Batch,H,W,C", g.Batch, g.H, g.W, g.C) && b.fitsInt32(op, g.InputLen(), g.Rows()*g.Cols())
}

// poolGeom checks g for op; its buffers must be indexable with int32.
func (b *Backend) poolGeom(op string, g nn.PoolGeom) bool {
	if err := g.Validate(); err != nil {
		b.failf(op, "%v", err)
		return false
	}
	return b.dims(op, "Batch,H,W,C", g.Batch, g.H, g.W, g.C) && b.fitsInt32(op, g.InputLen())
}

func (b *Backend) fitsInt32(op string, ns ...int) bool {
	for _, n := range ns {
		if n > math.MaxInt32 {
			b.failf(op, "%d elements: more than the kernels index (%d)", n, math.MaxInt32)
			return false
		}
	}
	return true
}

func convLaunchParams(cols, x *buffer, g nn.ConvGeom) convParams {
	return convParams{
		cols: cols.ptr, x: x.ptr,
		batch: int32(g.Batch), h: int32(g.H), w: int32(g.W), c: int32(g.C),
		kh: int32(g.KH), kw: int32(g.KW), stride: int32(g.Stride), pad: int32(g.Pad),
		outH: int32(g.OutH()), outW: int32(g.OutW()),
	}
}

// Im2Col writes the receptive fields of the NHWC batch x as the rows of
// cols (nn.Backend.Im2Col).
func (b *Backend) Im2Col(cols, x nn.Buffer, g nn.ConvGeom) {
	const op = "Im2Col"
	if !b.ready(op) || !b.convGeom(op, g) {
		return
	}
	n := g.Rows() * g.Cols()
	cb := b.buf(op, "cols", cols, nn.Float32, n)
	xb := b.buf(op, "x", x, nn.Float32, g.InputLen())
	if cb == nil || xb == nil || n == 0 {
		return
	}
	if overlaps(cb, n, xb, g.InputLen()) {
		b.failf(op, "cols shares memory with x")
		return
	}
	p := convLaunchParams(cb, xb, g)
	b.launch(op, kIm2Col, b.strideGrid(n), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// Col2Im sets dx to the adjoint of Im2Col applied to cols (nn.Backend.Col2Im).
func (b *Backend) Col2Im(dx, cols nn.Buffer, g nn.ConvGeom) {
	const op = "Col2Im"
	if !b.ready(op) || !b.convGeom(op, g) {
		return
	}
	n := g.Rows() * g.Cols()
	db := b.buf(op, "dx", dx, nn.Float32, g.InputLen())
	cb := b.buf(op, "cols", cols, nn.Float32, n)
	if db == nil || cb == nil || g.InputLen() == 0 {
		return
	}
	if overlaps(cb, n, db, g.InputLen()) {
		b.failf(op, "dx shares memory with cols")
		return
	}
	p := convLaunchParams(cb, db, g)
	b.launch(op, kCol2Im, b.strideGrid(g.InputLen()), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

func poolLaunchParams(x, y, argmax *buffer, status uint64, g nn.PoolGeom) poolParams {
	return poolParams{
		x: x.ptr, y: y.ptr, argmax: addr(argmax), status: status,
		batch: int32(g.Batch), h: int32(g.H), w: int32(g.W), c: int32(g.C),
		size: int32(g.Size), stride: int32(g.Stride), outH: int32(g.OutH()), outW: int32(g.OutW()),
	}
}

// MaxPool2D sets y to the maxima of x's windows and, when argmax is not
// nil, argmax to their positions (nn.Backend.MaxPool2D).
func (b *Backend) MaxPool2D(y, argmax, x nn.Buffer, g nn.PoolGeom) {
	const op = "MaxPool2D"
	if !b.ready(op) || !b.poolGeom(op, g) {
		return
	}
	out := g.OutputLen()
	yb := b.buf(op, "y", y, nn.Float32, out)
	xb := b.buf(op, "x", x, nn.Float32, g.InputLen())
	ab, ok := b.optBuf(op, "argmax", argmax, nn.Int32, out)
	if yb == nil || xb == nil || !ok || out == 0 {
		return
	}
	if overlaps(yb, out, xb, g.InputLen()) {
		b.failf(op, "y shares memory with x")
		return
	}
	p := poolLaunchParams(xb, yb, ab, b.status, g)
	b.launch(op, kMaxPool, b.strideGrid(out), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// MaxPool2DBackward routes dy to the argmax of every window
// (nn.Backend.MaxPool2DBackward). An argmax entry outside the window makes
// Sync return an error.
func (b *Backend) MaxPool2DBackward(dx, dy, argmax nn.Buffer, g nn.PoolGeom) {
	const op = "MaxPool2DBackward"
	if !b.ready(op) || !b.poolGeom(op, g) {
		return
	}
	out := g.OutputLen()
	db := b.buf(op, "dx", dx, nn.Float32, g.InputLen())
	yb := b.buf(op, "dy", dy, nn.Float32, out)
	ab := b.buf(op, "argmax", argmax, nn.Int32, out)
	if db == nil || yb == nil || ab == nil || g.InputLen() == 0 {
		return
	}
	if overlaps(db, g.InputLen(), yb, out) {
		b.failf(op, "dx shares memory with dy")
		return
	}
	p := poolLaunchParams(db, yb, ab, b.status, g)
	b.launch(op, kMaxPoolBackward, b.strideGrid(g.InputLen()), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// GatherAffine builds a batch like Gather with every image resampled
// through its affine map (nn.Backend.GatherAffine). An index in order
// outside the data set makes Sync return an error.
func (b *Backend) GatherAffine(x, y, images, labels, order, affine nn.Buffer, start, rows, height, width int, scale, shift float32) {
	const op = "GatherAffine"
	if !b.ready(op) || !b.dims(op, "rows,height,width", rows, height, width) || !b.dims(op, "start", start) ||
		!b.dims(op, "start+rows", start+rows) || !b.fitsInt32(op, (start+rows)*nn.AffineParams) {
		return
	}
	pixels := height * width
	if pixels == 0 {
		b.failf(op, "height and width must be positive")
		return
	}
	if !b.fitsInt32(op, pixels) {
		return
	}
	xb := b.buf(op, "x", x, nn.Float32, rows*pixels)
	yb := b.buf(op, "y", y, nn.Int32, rows)
	img := b.buf(op, "images", images, nn.Uint8, 0)
	lab := b.buf(op, "labels", labels, nn.Uint8, 0)
	ord := b.buf(op, "order", order, nn.Int32, start+rows)
	aff := b.buf(op, "affine", affine, nn.Float32, (start+rows)*nn.AffineParams)
	if xb == nil || yb == nil || img == nil || lab == nil || ord == nil || aff == nil || rows == 0 {
		return
	}
	if overlaps(xb, rows*pixels, aff, (start+rows)*nn.AffineParams) {
		b.failf(op, "x shares memory with affine")
		return
	}
	count := min(img.n/pixels, lab.n, math.MaxInt32)
	for r := 0; r < rows; r += maxGridY {
		n := min(rows-r, maxGridY)
		p := gatherAffineParams{
			x: xb.ptr + uint64(r*pixels*4), y: yb.ptr + uint64(r*4),
			images: img.ptr, labels: lab.ptr, order: ord.ptr, affine: aff.ptr, status: b.status,
			start: int32(start + r), rows: int32(n), height: int32(height), width: int32(width), count: int32(count),
			scale: scale, shift: shift,
		}
		grid := [3]uint32{uint32(ceilDiv(pixels, 256)), uint32(n), 1}
		b.launch(op, kGatherAffine, grid, block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
	}
}
