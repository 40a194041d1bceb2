package nn

import "fmt"

// ConvGeom is the geometry of a 2-D convolution (cross-correlation, as
// PyTorch's Conv2d computes it) over a batch of images stored NHWC: image b,
// row h, column w, channel c is element ((b·H + h)·W + w)·C + c.
//
// The backend ops Im2Col and Col2Im turn a convolution into GEMMs. Im2Col
// writes one row per output position and one column per kernel tap, the
// columns in PyTorch's weight order (c, kh, kw), so that with weights W
// stored [out, C, KH, KW] as PyTorch stores them (a Cols()-wide matrix) and
// cols = Im2Col(x):
//
//	forward   y    = cols·Wᵀ + b    Gemm{TransB: true, M: Rows(), N: out, K: Cols(), A: cols, B: W, Bias: b}
//	weights   dW   = dyᵀ·cols       Gemm{TransA: true, M: out, N: Cols(), K: Rows(), A: dy, B: cols}
//	inputs    dcol = dy·W           Gemm{M: Rows(), N: Cols(), K: out, A: dy, B: W};  dx = Col2Im(dcol)
//
// y (Rows()×out) is then the NHWC output, Batch×OutH()×OutW()×out.
type ConvGeom struct {
	Batch   int // images
	H, W, C int // input height, width and channels
	KH, KW  int // kernel height and width
	Stride  int // step between output positions, both directions (at least 1)
	Pad     int // zeros added on every side of the input
}

// OutH returns the output height: (H + 2·Pad − KH)/Stride + 1.
func (g ConvGeom) OutH() int { return (g.H+2*g.Pad-g.KH)/max(g.Stride, 1) + 1 }

// OutW returns the output width: (W + 2·Pad − KW)/Stride + 1.
func (g ConvGeom) OutW() int { return (g.W+2*g.Pad-g.KW)/max(g.Stride, 1) + 1 }

// Rows returns the rows of the column matrix: one per output position, Batch·OutH·OutW.
func (g ConvGeom) Rows() int { return g.Batch * g.OutH() * g.OutW() }

// Cols returns the columns of the column matrix: one per kernel tap, C·KH·KW.
func (g ConvGeom) Cols() int { return g.C * g.KH * g.KW }

// InputLen returns the elements of the input batch, Batch·H·W·C.
func (g ConvGeom) InputLen() int { return g.Batch * g.H * g.W * g.C }

// Validate reports a geometry no convolution has: a negative size, a
// kernel or stride below 1, or a kernel larger than the padded input.
func (g ConvGeom) Validate() error {
	switch {
	case g.Batch < 0 || g.H < 0 || g.W < 0 || g.C < 0 || g.Pad < 0:
		return fmt.Errorf("convolution %+v: sizes must not be negative", g)
	case g.KH < 1 || g.KW < 1 || g.Stride < 1:
		return fmt.Errorf("convolution %+v: kernel and stride must be at least 1", g)
	case g.H+2*g.Pad < g.KH || g.W+2*g.Pad < g.KW:
		return fmt.Errorf("convolution %+v: the %d×%d kernel is larger than the %d×%d padded input", g, g.KH, g.KW, g.H+2*g.Pad, g.W+2*g.Pad)
	}
	return nil
}

// PoolGeom is the geometry of a 2-D max-pooling over a batch of NHWC images:
// Size×Size windows, Stride apart, no padding (PyTorch's MaxPool2d(Size,
// Stride) with floor rounding).
type PoolGeom struct {
	Batch   int // images
	H, W, C int // input height, width and channels
	Size    int // window height and width
	Stride  int // step between windows (at least 1; Size for MaxPool2d(Size))
}

// OutH returns the output height: (H − Size)/Stride + 1.
func (g PoolGeom) OutH() int { return (g.H-g.Size)/max(g.Stride, 1) + 1 }

// OutW returns the output width: (W − Size)/Stride + 1.
func (g PoolGeom) OutW() int { return (g.W-g.Size)/max(g.Stride, 1) + 1 }

// InputLen returns the elements of the input batch, Batch·H·W·C.
func (g PoolGeom) InputLen() int { return g.Batch * g.H * g.W * g.C }

// OutputLen returns the elements of the output batch, Batch·OutH·OutW·C.
func (g PoolGeom) OutputLen() int { return g.Batch * g.OutH() * g.OutW() * g.C }

// Validate reports a geometry no pooling has: a negative size, a window
// or stride below 1, or a window larger than the input.
func (g PoolGeom) Validate() error {
	switch {
	case g.Batch < 0 || g.H < 0 || g.W < 0 || g.C < 0:
		return fmt.Errorf("pooling %+v: sizes must not be negative", g)
	case g.Size < 1 || g.Stride < 1:
		return fmt.Errorf("pooling %+v: window and stride must be at least 1", g)
	case g.H < g.Size || g.W < g.Size:
		return fmt.Errorf("pooling %+v: the %d×%d window is larger than the %d×%d input", g, g.Size, g.Size, g.H, g.W)
	}
	return nil
}

// AffineParams is the number of float32 values of one sample's transform
// in GatherAffine's affine buffer: a 2×3 matrix, row by row.
const AffineParams = 6
