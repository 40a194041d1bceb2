package host

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// The operands of every compute op as host slices, shared by the cpu
// backend and the naive reference. Each function runs the op's contract
// (nn's Check functions), records its error, and returns the buffers as
// slices of the lengths the op uses; ok = false when an error was recorded
// by it or before it (then the op does nothing). What the contract leaves
// to the data (labels, order and argmax entries in range) is checked here,
// on the host, before the op computes.

// GemmArgs checks a Gemm (nn.Gemm.Check) and returns op(A), op(B), C, Bias
// and Mask (nil when not set).
func (c *Core) GemmArgs(g nn.Gemm) (a, b, cm, bias, mask []float32, ok bool) {
	if !c.Check("Gemm", g.Check(c)) {
		return
	}
	return f32(g.A, g.M*g.K), f32(g.B, g.K*g.N), f32(g.C, g.M*g.N), f32(g.Bias, g.N), f32(g.Mask, g.M*g.N), true
}

// ReLUArgs checks a ReLU and returns its n elements of x.
func (c *Core) ReLUArgs(x nn.Buffer, n int) (xs []float32, ok bool) {
	if !c.Check("ReLU", nn.CheckReLU(c, x, n)) {
		return
	}
	return f32(x, n), true
}

// ReLUBackwardArgs checks a ReLUBackward and returns n elements of grad and out.
func (c *Core) ReLUBackwardArgs(grad, out nn.Buffer, n int) (gs, os []float32, ok bool) {
	if !c.Check("ReLUBackward", nn.CheckReLUBackward(c, grad, out, n)) {
		return
	}
	return f32(grad, n), f32(out, n), true
}

// ColumnSumsArgs checks a ColumnSums and returns dst (cols) and src (rows×cols).
func (c *Core) ColumnSumsArgs(dst, src nn.Buffer, rows, cols int) (ds, ss []float32, ok bool) {
	if !c.Check("ColumnSums", nn.CheckColumnSums(c, dst, src, rows, cols)) {
		return
	}
	return f32(dst, cols), f32(src, rows*cols), true
}

// ArgmaxArgs checks an Argmax and returns dst (rows) and src (rows×cols).
func (c *Core) ArgmaxArgs(dst, src nn.Buffer, rows, cols int) (ds []int32, ss []float32, ok bool) {
	if !c.Check("Argmax", nn.CheckArgmax(c, dst, src, rows, cols)) {
		return
	}
	return i32(dst, rows), f32(src, rows*cols), true
}

// SoftmaxArgs checks a SoftmaxCrossEntropy, and every label in [0, cols),
// and returns loss (one element), grad (rows×cols, nil when not given),
// logits (rows×cols) and labels (rows).
func (c *Core) SoftmaxArgs(loss, grad, logits, labels nn.Buffer, rows, cols int) (ls, gs, xs []float32, ys []int32, ok bool) {
	const op = "SoftmaxCrossEntropy"
	if !c.Check(op, nn.CheckSoftmaxCrossEntropy(c, loss, grad, logits, labels, rows, cols)) {
		return
	}
	ys = i32(labels, rows)
	for r, y := range ys {
		if y < 0 || int(y) >= cols {
			c.Fail(op, "labels[%d] = %d is outside [0, %d)", r, y, cols)
			return
		}
	}
	return f32(loss, 1), f32(grad, rows*cols), f32(logits, rows*cols), ys, true
}

// GatherArgs checks a Gather and fills y with the batch's labels. It
// returns x (rows×pixels), the batch's rows of order
// (order[start:start+rows], each naming an image and a label of the data
// set) and the images.
func (c *Core) GatherArgs(x, y, images, labels, order nn.Buffer, start, rows, pixels int) (xs []float32, os []int32, imgs []uint8, ok bool) {
	const op = "Gather"
	if !c.Check(op, nn.CheckGather(c, x, y, images, labels, order, start, rows, pixels)) {
		return
	}
	imgs, os = u8(images, images.Len()), i32(order, start+rows)[start:]
	if !c.batchLabels(op, i32(y, rows), os, u8(labels, labels.Len()), imgs, start, pixels) {
		return
	}
	return f32(x, rows*pixels), os, imgs, true
}

// GatherAffineArgs checks a GatherAffine as GatherArgs does a Gather, and
// also returns the batch's rows of affine maps.
func (c *Core) GatherAffineArgs(x, y, images, labels, order, affine nn.Buffer, start, rows, height, width int) (xs []float32, os []int32, imgs []uint8, as []float32, ok bool) {
	const op = "GatherAffine"
	if !c.Check(op, nn.CheckGatherAffine(c, x, y, images, labels, order, affine, start, rows, height, width)) {
		return
	}
	pixels := height * width
	imgs, os = u8(images, images.Len()), i32(order, start+rows)[start:]
	if !c.batchLabels(op, i32(y, rows), os, u8(labels, labels.Len()), imgs, start, pixels) {
		return
	}
	as = f32(affine, (start+rows)*nn.AffineParams)[start*nn.AffineParams:]
	return f32(x, rows*pixels), os, imgs, as, true
}

// batchLabels checks that every index of order (the batch's rows, which
// start at row start of the order buffer) names an image and a label of
// the data set, and copies the labels into ys. It fails op and returns
// false at the first index outside.
func (c *Core) batchLabels(op string, ys, order []int32, labels, images []uint8, start, pixels int) bool {
	for r, i := range order {
		if i < 0 || int(i) >= len(labels) || (int(i)+1)*pixels > len(images) {
			c.Fail(op, "order[%d] = %d is outside the data set (%d labels, %d images of %d pixels)",
				start+r, i, len(labels), len(images)/pixels, pixels)
			return false
		}
		ys[r] = int32(labels[i])
	}
	return true
}

// Im2ColArgs checks an Im2Col and returns cols (Rows×Cols) and x (the NHWC batch).
func (c *Core) Im2ColArgs(cols, x nn.Buffer, g nn.ConvGeom) (cs, xs []float32, ok bool) {
	if !c.Check("Im2Col", nn.CheckIm2Col(c, cols, x, g)) {
		return
	}
	return f32(cols, g.Rows()*g.Cols()), f32(x, g.InputLen()), true
}

// Col2ImArgs checks a Col2Im and returns dx (the NHWC batch) and cols (Rows×Cols).
func (c *Core) Col2ImArgs(dx, cols nn.Buffer, g nn.ConvGeom) (ds, cs []float32, ok bool) {
	if !c.Check("Col2Im", nn.CheckCol2Im(c, dx, cols, g)) {
		return
	}
	return f32(dx, g.InputLen()), f32(cols, g.Rows()*g.Cols()), true
}

// MaxPoolArgs checks a MaxPool2D and returns y (output), x (input) and
// argmax (output-sized; nil when not given).
func (c *Core) MaxPoolArgs(y, argmax, x nn.Buffer, g nn.PoolGeom) (ys, xs []float32, as []int32, ok bool) {
	if !c.Check("MaxPool2D", nn.CheckMaxPool2D(c, y, argmax, x, g)) {
		return
	}
	return f32(y, g.OutputLen()), f32(x, g.InputLen()), i32(argmax, g.OutputLen()), true
}

// MaxPoolBackwardArgs checks a MaxPool2DBackward, and every argmax entry
// inside its window, and returns dx (input-sized), dy and argmax
// (output-sized).
func (c *Core) MaxPoolBackwardArgs(dx, dy, argmax nn.Buffer, g nn.PoolGeom) (ds, gs []float32, as []int32, ok bool) {
	const op = "MaxPool2DBackward"
	if !c.Check(op, nn.CheckMaxPool2DBackward(c, dx, dy, argmax, g)) {
		return
	}
	as = i32(argmax, g.OutputLen())
	window := int32(g.Size * g.Size)
	for o, a := range as {
		if a < 0 || a >= window {
			c.Fail(op, "argmax[%d] = %d is outside the %d×%d window", o, a, g.Size, g.Size)
			return
		}
	}
	return f32(dx, g.InputLen()), f32(dy, g.OutputLen()), as, true
}

// SGDArgs checks an SGD update and returns params, grads and velocity (nil
// when momentum is 0).
func (c *Core) SGDArgs(params, grads, velocity nn.Buffer, momentum float32) (ps, gs, vs []float32, ok bool) {
	if !c.Check("SGD", nn.CheckSGD(c, params, grads, velocity, momentum)) {
		return
	}
	n := params.Len()
	if momentum != 0 {
		vs = f32(velocity, n)
	}
	return f32(params, n), f32(grads, n), vs, true
}

// AdamArgs checks an Adam update and returns its buffers and bias
// corrections, computed in float64: step = lr/(1-β1^t) and bc2sqrt =
// sqrt(1-β2^t).
func (c *Core) AdamArgs(params, grads, m, v nn.Buffer, lr, beta1, beta2 float32, t int) (ps, gs, ms, vs []float32, step, bc2sqrt float32, ok bool) {
	if !c.Check("Adam", nn.CheckAdam(c, params, grads, m, v, t)) {
		return
	}
	n := params.Len()
	bc1 := 1 - math.Pow(float64(beta1), float64(t))
	bc2 := 1 - math.Pow(float64(beta2), float64(t))
	return f32(params, n), f32(grads, n), f32(m, n), f32(v, n), float32(float64(lr) / bc1), float32(math.Sqrt(bc2)), true
}
