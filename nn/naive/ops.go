package naive

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// ReLU sets x[i] = max(x[i], 0) for i < n (NaN stays NaN).
func (b *Backend) ReLU(x nn.Buffer, n int) {
	xs, ok := b.core.ReLUArgs(x, n)
	if !ok {
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
	gs, os, ok := b.core.ReLUBackwardArgs(grad, out, n)
	if !ok {
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
	ls, gs, xs, ys, ok := b.core.SoftmaxArgs(loss, grad, logits, labels, rows, cols)
	if !ok {
		return
	}
	var total float64
	for r := 0; r < rows; r++ {
		y := int(ys[r])
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
	ds, ss, ok := b.core.ColumnSumsArgs(dst, src, rows, cols)
	if !ok {
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
	ds, ss, ok := b.core.ArgmaxArgs(dst, src, rows, cols)
	if !ok {
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
	xs, os, imgs, ok := b.core.GatherArgs(x, y, images, labels, order, start, rows, pixels)
	if !ok {
		return
	}
	for r := 0; r < rows; r++ {
		i := int(os[r])
		for j := 0; j < pixels; j++ {
			xs[r*pixels+j] = float32(float32(imgs[i*pixels+j])*scale) + shift
		}
	}
}
