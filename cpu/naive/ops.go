package naive

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// AddBias adds bias (cols) to every row of x (rows×cols).
func (b *Backend) AddBias(x, bias nn.Buffer, rows, cols int) {
	const op = "AddBias"
	if !b.core.Ready(op) || !b.core.Dim(op, "rows", rows) || !b.core.Dim(op, "cols", cols) {
		return
	}
	xs := b.core.F32(op, "x", x, rows, cols, "rows×cols")
	bs := b.core.F32(op, "bias", bias, 1, cols, "cols")
	if b.core.Err() != nil {
		return
	}
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			xs[r*cols+c] += bs[c]
		}
	}
}

// ReLU sets x[i] = max(x[i], 0) for i < n (NaN stays NaN).
func (b *Backend) ReLU(x nn.Buffer, n int) {
	const op = "ReLU"
	if !b.core.Ready(op) || !b.core.Dim(op, "n", n) {
		return
	}
	xs := b.core.F32(op, "x", x, 1, n, "n")
	if b.core.Err() != nil {
		return
	}
	for i := range xs {
		if xs[i] < 0 {
			xs[i] = 0
		}
	}
}

// ReLUBackward sets grad[i] = 0 where out[i] <= 0, for i < n.
func (b *Backend) ReLUBackward(grad, out nn.Buffer, n int) {
	const op = "ReLUBackward"
	if !b.core.Ready(op) || !b.core.Dim(op, "n", n) {
		return
	}
	gs := b.core.F32(op, "grad", grad, 1, n, "n")
	os := b.core.F32(op, "out", out, 1, n, "n")
	if b.core.Err() != nil {
		return
	}
	for i := range gs {
		if os[i] <= 0 {
			gs[i] = 0
		}
	}
}

// SoftmaxCrossEntropy writes the mean over rows of -log softmax(logits[r])[labels[r]]
// into loss[0] and, when grad is not nil, (softmax(logits[r]) - onehot(labels[r]))/rows
// into grad. Everything is computed in float64 from max-subtracted logits.
func (b *Backend) SoftmaxCrossEntropy(loss, grad, logits, labels nn.Buffer, rows, cols int) {
	const op = "SoftmaxCrossEntropy"
	if !b.core.Ready(op) || !b.core.Dim(op, "rows", rows) || !b.core.Dim(op, "cols", cols) {
		return
	}
	ls := b.core.F32(op, "loss", loss, 1, 1, "one element")
	xs := b.core.F32(op, "logits", logits, rows, cols, "rows×cols")
	ys := b.core.I32(op, "labels", labels, 1, rows, "rows")
	var gs []float32
	if grad != nil {
		gs = b.core.F32(op, "grad", grad, rows, cols, "rows×cols")
	}
	if b.core.Err() != nil {
		return
	}
	if rows > 0 && cols == 0 {
		b.core.Fail(op, "cols is 0: a softmax needs at least one class")
		return
	}
	var total float64
	for r := 0; r < rows; r++ {
		y := int(ys[r])
		if y < 0 || y >= cols {
			b.core.Fail(op, "labels[%d] = %d is outside [0, %d)", r, y, cols)
			return
		}
		x := xs[r*cols : (r+1)*cols]
		maxv := float64(x[0])
		for _, v := range x {
			maxv = math.Max(maxv, float64(v))
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(float64(v) - maxv)
		}
		total += maxv + math.Log(sum) - float64(x[y])
		if gs != nil {
			for c, v := range x {
				p := math.Exp(float64(v)-maxv) / sum
				if c == y {
					p--
				}
				gs[r*cols+c] = float32(p / float64(rows))
			}
		}
	}
	if rows > 0 {
		total /= float64(rows)
	}
	ls[0] = float32(total)
}

// ColumnSums sets dst[c] = Σ_r src[r,c] for src (rows×cols), summing in float64.
func (b *Backend) ColumnSums(dst, src nn.Buffer, rows, cols int) {
	const op = "ColumnSums"
	if !b.core.Ready(op) || !b.core.Dim(op, "rows", rows) || !b.core.Dim(op, "cols", cols) {
		return
	}
	ds := b.core.F32(op, "dst", dst, 1, cols, "cols")
	ss := b.core.F32(op, "src", src, rows, cols, "rows×cols")
	if b.core.Err() != nil || b.core.Overlap(op, "dst", ds, "src", ss) {
		return
	}
	for c := 0; c < cols; c++ {
		var sum float64
		for r := 0; r < rows; r++ {
			sum += float64(ss[r*cols+c])
		}
		ds[c] = float32(sum)
	}
}

// Argmax sets dst[r] to the index of the largest of src[r,:], the first on ties.
func (b *Backend) Argmax(dst, src nn.Buffer, rows, cols int) {
	const op = "Argmax"
	if !b.core.Ready(op) || !b.core.Dim(op, "rows", rows) || !b.core.Dim(op, "cols", cols) {
		return
	}
	ds := b.core.I32(op, "dst", dst, 1, rows, "rows")
	ss := b.core.F32(op, "src", src, rows, cols, "rows×cols")
	if b.core.Err() != nil {
		return
	}
	if rows > 0 && cols == 0 {
		b.core.Fail(op, "cols is 0: there is no largest element")
		return
	}
	for r := 0; r < rows; r++ {
		best := 0
		for c := 1; c < cols; c++ {
			if ss[r*cols+c] > ss[r*cols+best] {
				best = c
			}
		}
		ds[r] = int32(best)
	}
}

// Gather builds a batch from a uint8 data set: for r < rows, with i = order[start+r],
//
//	x[r,j] = float32(images[i·pixels+j])·scale + shift   (rounded after the product)
//	y[r]   = int32(labels[i])
func (b *Backend) Gather(x, y, images, labels, order nn.Buffer, start, rows, pixels int, scale, shift float32) {
	const op = "Gather"
	if !b.core.Ready(op) || !b.core.Dim(op, "start", start) || !b.core.Dim(op, "rows", rows) || !b.core.Dim(op, "pixels", pixels) {
		return
	}
	xs := b.core.F32(op, "x", x, rows, pixels, "rows×pixels")
	ys := b.core.I32(op, "y", y, 1, rows, "rows")
	os := b.core.I32(op, "order", order, 1, start+rows, "start+rows")
	if b.core.Err() != nil {
		return
	}
	imgs := b.core.WholeU8(op, "images", images)
	labs := b.core.WholeU8(op, "labels", labels)
	if b.core.Err() != nil {
		return
	}
	for r := 0; r < rows; r++ {
		i := int(os[start+r])
		if i < 0 || i >= len(labs) || (i+1)*pixels > len(imgs) {
			b.core.Fail(op, "order[%d] = %d is outside the data set (%d labels, %d images of %d pixels)",
				start+r, i, len(labs), len(imgs)/max(pixels, 1), pixels)
			return
		}
		for j := 0; j < pixels; j++ {
			xs[r*pixels+j] = float32(float32(imgs[i*pixels+j])*scale) + shift
		}
		ys[r] = int32(labs[i])
	}
}
