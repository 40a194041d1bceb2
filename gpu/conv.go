package gpu

import (
	"math"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

// The convolution, pooling and augmentation ops (kernels/conv.cu). A
// convolution is Im2Col then Gemm (see nn.ConvGeom); the kernels here only
// move data, one thread per output element.

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
	if !b.ready(op) || !b.check(nn.CheckIm2Col(b.operands(), cols, x, g)) || g.Rows()*g.Cols() == 0 {
		return
	}
	p := convLaunchParams(dev(cols), dev(x), g)
	b.launch(op, kIm2Col, b.strideGrid(g.Rows()*g.Cols()), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// Col2Im sets dx to the adjoint of Im2Col applied to cols (nn.Backend.Col2Im).
func (b *Backend) Col2Im(dx, cols nn.Buffer, g nn.ConvGeom) {
	const op = "Col2Im"
	if !b.ready(op) || !b.check(nn.CheckCol2Im(b.operands(), dx, cols, g)) || g.InputLen() == 0 {
		return
	}
	p := convLaunchParams(dev(cols), dev(dx), g)
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
	if !b.ready(op) || !b.check(nn.CheckMaxPool2D(b.operands(), y, argmax, x, g)) || g.OutputLen() == 0 {
		return
	}
	p := poolLaunchParams(dev(x), dev(y), dev(argmax), b.status, g)
	b.launch(op, kMaxPool, b.strideGrid(g.OutputLen()), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// MaxPool2DBackward routes dy to the argmax of every window
// (nn.Backend.MaxPool2DBackward). An argmax entry outside the window makes
// Sync return an error.
func (b *Backend) MaxPool2DBackward(dx, dy, argmax nn.Buffer, g nn.PoolGeom) {
	const op = "MaxPool2DBackward"
	if !b.ready(op) || !b.check(nn.CheckMaxPool2DBackward(b.operands(), dx, dy, argmax, g)) || g.InputLen() == 0 {
		return
	}
	p := poolLaunchParams(dev(dx), dev(dy), dev(argmax), b.status, g)
	b.launch(op, kMaxPoolBackward, b.strideGrid(g.InputLen()), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}

// GatherAffine builds a batch like Gather with every image resampled
// through its affine map (nn.Backend.GatherAffine). An index in order
// outside the data set makes Sync return an error.
func (b *Backend) GatherAffine(x, y, images, labels, order, affine nn.Buffer, start, rows, height, width int, scale, shift float32) {
	const op = "GatherAffine"
	if !b.ready(op) || !b.check(nn.CheckGatherAffine(b.operands(), x, y, images, labels, order, affine, start, rows, height, width)) || rows == 0 {
		return
	}
	pixels := height * width
	xb, yb := dev(x), dev(y)
	count := min(images.Len()/pixels, labels.Len(), math.MaxInt32)
	for r := 0; r < rows; r += maxGridY {
		n := min(rows-r, maxGridY)
		p := gatherAffineParams{
			x: xb.ptr + uint64(r*pixels*4), y: yb.ptr + uint64(r*4),
			images: dev(images).ptr, labels: dev(labels).ptr, order: dev(order).ptr, affine: dev(affine).ptr, status: b.status, hyper: b.replayHyper(),
			start: int32(start + r), rows: int32(n), height: int32(height), width: int32(width), count: int32(count),
			scale: scale, shift: shift,
		}
		grid := [3]uint32{uint32(ceilDiv(pixels, 256)), uint32(n), 1}
		b.launch(op, kGatherAffine, grid, block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
	}
}
