package host

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// The operand checks of every compute op, shared by the cpu backend and
// the naive reference so that both accept and reject exactly the same calls
// with the same errors. Each checks the op's dimensions and buffers in a
// fixed order (the first problem found is the one reported), returns the
// buffers as host slices of the lengths the op uses, and reports ok = false
// when an error was recorded by it or before it (then the op does nothing).

// GemmArgs checks a Gemm: op(A), op(B), C, Bias and Mask for g's M, N, K,
// and C overlapping none of the inputs.
func (c *Core) GemmArgs(g nn.Gemm) (a, b, cm, bias, mask []float32, ok bool) {
	const op = "Gemm"
	if !c.Ready(op) || !c.Dim(op, "M", g.M) || !c.Dim(op, "N", g.N) || !c.Dim(op, "K", g.K) {
		return
	}
	m, n, k := g.M, g.N, g.K
	if g.TransA {
		a = c.F32(op, "A", g.A, k, m, "K×M")
	} else {
		a = c.F32(op, "A", g.A, m, k, "M×K")
	}
	if g.TransB {
		b = c.F32(op, "B", g.B, n, k, "N×K")
	} else {
		b = c.F32(op, "B", g.B, k, n, "K×N")
	}
	cm = c.F32(op, "C", g.C, m, n, "M×N")
	if g.Bias != nil {
		bias = c.F32(op, "Bias", g.Bias, 1, n, "N")
	}
	if g.Mask != nil {
		mask = c.F32(op, "Mask", g.Mask, m, n, "M×N")
	}
	if c.Err() != nil ||
		c.Overlap(op, "C", cm, "A", a) || c.Overlap(op, "C", cm, "B", b) ||
		c.Overlap(op, "C", cm, "Bias", bias) || c.Overlap(op, "C", cm, "Mask", mask) {
		return
	}
	return a, b, cm, bias, mask, true
}

// AddBiasArgs checks an AddBias: x (rows×cols) and bias (cols), apart.
func (c *Core) AddBiasArgs(x, bias nn.Buffer, rows, cols int) (xs, bs []float32, ok bool) {
	const op = "AddBias"
	if !c.Ready(op) || !c.Dim(op, "rows", rows) || !c.Dim(op, "cols", cols) {
		return
	}
	xs = c.F32(op, "x", x, rows, cols, "rows×cols")
	bs = c.F32(op, "bias", bias, 1, cols, "cols")
	if c.Err() != nil || c.Overlap(op, "x", xs, "bias", bs) {
		return
	}
	return xs, bs, true
}

// ReLUArgs checks a ReLU of n elements of x.
func (c *Core) ReLUArgs(x nn.Buffer, n int) (xs []float32, ok bool) {
	const op = "ReLU"
	if !c.Ready(op) || !c.Dim(op, "n", n) {
		return
	}
	xs = c.F32(op, "x", x, 1, n, "n")
	if c.Err() != nil {
		return
	}
	return xs, true
}

// ReLUBackwardArgs checks a ReLUBackward of n elements of grad and out.
func (c *Core) ReLUBackwardArgs(grad, out nn.Buffer, n int) (gs, os []float32, ok bool) {
	const op = "ReLUBackward"
	if !c.Ready(op) || !c.Dim(op, "n", n) {
		return
	}
	gs = c.F32(op, "grad", grad, 1, n, "n")
	os = c.F32(op, "out", out, 1, n, "n")
	if c.Err() != nil {
		return
	}
	return gs, os, true
}

// ColumnSumsArgs checks a ColumnSums: dst (cols) and src (rows×cols), apart.
func (c *Core) ColumnSumsArgs(dst, src nn.Buffer, rows, cols int) (ds, ss []float32, ok bool) {
	const op = "ColumnSums"
	if !c.Ready(op) || !c.Dim(op, "rows", rows) || !c.Dim(op, "cols", cols) {
		return
	}
	ds = c.F32(op, "dst", dst, 1, cols, "cols")
	ss = c.F32(op, "src", src, rows, cols, "rows×cols")
	if c.Err() != nil || c.Overlap(op, "dst", ds, "src", ss) {
		return
	}
	return ds, ss, true
}

// ArgmaxArgs checks an Argmax: dst (rows) and src (rows×cols), with at
// least one column when there are rows.
func (c *Core) ArgmaxArgs(dst, src nn.Buffer, rows, cols int) (ds []int32, ss []float32, ok bool) {
	const op = "Argmax"
	if !c.Ready(op) || !c.Dim(op, "rows", rows) || !c.Dim(op, "cols", cols) {
		return
	}
	ds = c.I32(op, "dst", dst, 1, rows, "rows")
	ss = c.F32(op, "src", src, rows, cols, "rows×cols")
	if c.Err() != nil {
		return
	}
	if rows > 0 && cols == 0 {
		c.Fail(op, "cols is 0: there is no largest element")
		return
	}
	return ds, ss, true
}

// SoftmaxArgs checks a SoftmaxCrossEntropy: loss (one element), logits
// (rows×cols), labels (rows, each in [0, cols)) and grad (rows×cols, when
// not nil; gs is nil then).
func (c *Core) SoftmaxArgs(loss, grad, logits, labels nn.Buffer, rows, cols int) (ls, gs, xs []float32, ys []int32, ok bool) {
	const op = "SoftmaxCrossEntropy"
	if !c.Ready(op) || !c.Dim(op, "rows", rows) || !c.Dim(op, "cols", cols) {
		return
	}
	ls = c.F32(op, "loss", loss, 1, 1, "one element")
	xs = c.F32(op, "logits", logits, rows, cols, "rows×cols")
	ys = c.I32(op, "labels", labels, 1, rows, "rows")
	if grad != nil {
		gs = c.F32(op, "grad", grad, rows, cols, "rows×cols")
	}
	if c.Err() != nil {
		return
	}
	if rows > 0 && cols == 0 {
		c.Fail(op, "cols is 0: a softmax needs at least one class")
		return
	}
	for r, y := range ys {
		if y < 0 || int(y) >= cols {
			c.Fail(op, "labels[%d] = %d is outside [0, %d)", r, y, cols)
			return
		}
	}
	return ls, gs, xs, ys, true
}

// GatherArgs checks a Gather and fills y with the batch's labels: x
// (rows×pixels), y (rows), order (start+rows), and every index of the
// batch naming an image and a label of the data set. order is returned as
// the batch's rows, order[start:start+rows].
func (c *Core) GatherArgs(x, y, images, labels, order nn.Buffer, start, rows, pixels int) (xs []float32, os []int32, imgs []uint8, ok bool) {
	const op = "Gather"
	if !c.Ready(op) || !c.Dim(op, "start", start) || !c.Dim(op, "rows", rows) || !c.Dim(op, "pixels", pixels) {
		return
	}
	xs = c.F32(op, "x", x, rows, pixels, "rows×pixels")
	ys := c.I32(op, "y", y, 1, rows, "rows")
	os = c.I32(op, "order", order, 1, start+rows, "start+rows")
	if c.Err() != nil {
		return
	}
	imgs = c.WholeU8(op, "images", images)
	labs := c.WholeU8(op, "labels", labels)
	if c.Err() != nil {
		return
	}
	os = os[start : start+rows]
	if !c.batchLabels(op, ys, os, labs, imgs, start, pixels) {
		return
	}
	return xs, os, imgs, true
}

// GatherAffineArgs checks a GatherAffine as GatherArgs does a Gather, with
// images of height×width pixels and affine ((start+rows)×6, apart from x),
// returned as the batch's rows of maps.
func (c *Core) GatherAffineArgs(x, y, images, labels, order, affine nn.Buffer, start, rows, height, width int) (xs []float32, os []int32, imgs []uint8, as []float32, ok bool) {
	const op = "GatherAffine"
	if !c.Ready(op) || !c.Dim(op, "start", start) || !c.Dim(op, "rows", rows) ||
		!c.Dim(op, "height", height) || !c.Dim(op, "width", width) {
		return
	}
	pixels := height * width
	xs = c.F32(op, "x", x, rows, pixels, "rows×pixels")
	ys := c.I32(op, "y", y, 1, rows, "rows")
	os = c.I32(op, "order", order, 1, start+rows, "start+rows")
	as = c.F32(op, "affine", affine, start+rows, nn.AffineParams, "(start+rows)×6")
	if c.Err() != nil {
		return
	}
	imgs = c.WholeU8(op, "images", images)
	labs := c.WholeU8(op, "labels", labels)
	if c.Err() != nil || c.Overlap(op, "x", xs, "affine", as) {
		return
	}
	os = os[start : start+rows]
	if !c.batchLabels(op, ys, os, labs, imgs, start, pixels) {
		return
	}
	return xs, os, imgs, as[start*nn.AffineParams : (start+rows)*nn.AffineParams], true
}

// batchLabels checks that every index of order (the batch's rows, which
// start at row start of the order buffer) names an image and a label of
// the data set, and copies the labels into ys. It fails op and returns
// false at the first index outside.
func (c *Core) batchLabels(op string, ys, order []int32, labels, images []uint8, start, pixels int) bool {
	for r, i := range order {
		if i < 0 || int(i) >= len(labels) || (int(i)+1)*pixels > len(images) {
			c.Fail(op, "order[%d] = %d is outside the data set (%d labels, %d images of %d pixels)",
				start+r, i, len(labels), len(images)/max(pixels, 1), pixels)
			return false
		}
		ys[r] = int32(labels[i])
	}
	return true
}

// Im2ColArgs checks an Im2Col: cols (Rows×Cols) and x (the NHWC batch), apart.
func (c *Core) Im2ColArgs(cols, x nn.Buffer, g nn.ConvGeom) (cs, xs []float32, ok bool) {
	const op = "Im2Col"
	if !c.Ready(op) || !c.Conv(op, g) {
		return
	}
	cs = c.F32(op, "cols", cols, g.Rows(), g.Cols(), "Rows×Cols")
	xs = c.F32(op, "x", x, 1, g.InputLen(), "Batch·H·W·C")
	if c.Err() != nil || c.Overlap(op, "cols", cs, "x", xs) {
		return
	}
	return cs, xs, true
}

// Col2ImArgs checks a Col2Im: dx (the NHWC batch) and cols (Rows×Cols), apart.
func (c *Core) Col2ImArgs(dx, cols nn.Buffer, g nn.ConvGeom) (ds, cs []float32, ok bool) {
	const op = "Col2Im"
	if !c.Ready(op) || !c.Conv(op, g) {
		return
	}
	ds = c.F32(op, "dx", dx, 1, g.InputLen(), "Batch·H·W·C")
	cs = c.F32(op, "cols", cols, g.Rows(), g.Cols(), "Rows×Cols")
	if c.Err() != nil || c.Overlap(op, "dx", ds, "cols", cs) {
		return
	}
	return ds, cs, true
}

// MaxPoolArgs checks a MaxPool2D: y (output), x (input), apart, and argmax
// (output-sized, when not nil; as is nil then).
func (c *Core) MaxPoolArgs(y, argmax, x nn.Buffer, g nn.PoolGeom) (ys, xs []float32, as []int32, ok bool) {
	const op = "MaxPool2D"
	if !c.Ready(op) || !c.Pool(op, g) {
		return
	}
	ys = c.F32(op, "y", y, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	xs = c.F32(op, "x", x, 1, g.InputLen(), "Batch·H·W·C")
	if argmax != nil {
		as = c.I32(op, "argmax", argmax, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	}
	if c.Err() != nil || c.Overlap(op, "y", ys, "x", xs) {
		return
	}
	return ys, xs, as, true
}

// MaxPoolBackwardArgs checks a MaxPool2DBackward: dx (input-sized) and dy
// (output-sized), apart, and argmax (output-sized, each inside its window).
func (c *Core) MaxPoolBackwardArgs(dx, dy, argmax nn.Buffer, g nn.PoolGeom) (ds, gs []float32, as []int32, ok bool) {
	const op = "MaxPool2DBackward"
	if !c.Ready(op) || !c.Pool(op, g) {
		return
	}
	ds = c.F32(op, "dx", dx, 1, g.InputLen(), "Batch·H·W·C")
	gs = c.F32(op, "dy", dy, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	as = c.I32(op, "argmax", argmax, 1, g.OutputLen(), "Batch·OutH·OutW·C")
	if c.Err() != nil || c.Overlap(op, "dx", ds, "dy", gs) {
		return
	}
	window := int32(g.Size * g.Size)
	for o, a := range as {
		if a < 0 || a >= window {
			c.Fail(op, "argmax[%d] = %d is outside the %d×%d window", o, a, g.Size, g.Size)
			return
		}
	}
	return ds, gs, as, true
}

// SGDArgs checks an SGD update: grads, and velocity when momentum is not 0
// (vs is nil otherwise), as long as params.
func (c *Core) SGDArgs(params, grads, velocity nn.Buffer, momentum float32) (ps, gs, vs []float32, ok bool) {
	const op = "SGD"
	if !c.Ready(op) {
		return
	}
	ps = c.Whole(op, "params", params)
	if c.Err() != nil {
		return
	}
	n := len(ps)
	gs = c.Exact(op, "grads", grads, n, "len(params)")
	if momentum != 0 {
		vs = c.Exact(op, "velocity", velocity, n, "len(params)")
	}
	if c.Err() != nil {
		return
	}
	return ps, gs, vs, true
}

// AdamArgs checks an Adam update (step t ≥ 1; grads, m and v as long as
// params) and returns its bias corrections, computed in float64: step =
// lr/(1-β1^t) and bc2sqrt = sqrt(1-β2^t).
func (c *Core) AdamArgs(params, grads, m, v nn.Buffer, lr, beta1, beta2 float32, t int) (ps, gs, ms, vs []float32, step, bc2sqrt float32, ok bool) {
	const op = "Adam"
	if !c.Ready(op) {
		return
	}
	if t < 1 {
		c.Fail(op, "step t = %d; it counts this update and starts at 1", t)
		return
	}
	ps = c.Whole(op, "params", params)
	if c.Err() != nil {
		return
	}
	n := len(ps)
	gs = c.Exact(op, "grads", grads, n, "len(params)")
	ms = c.Exact(op, "m", m, n, "len(params)")
	vs = c.Exact(op, "v", v, n, "len(params)")
	if c.Err() != nil {
		return
	}
	bc1 := 1 - math.Pow(float64(beta1), float64(t))
	bc2 := 1 - math.Pow(float64(beta2), float64(t))
	return ps, gs, ms, vs, float32(float64(lr) / bc1), float32(math.Sqrt(bc2)), true
}
