package backendtest

import (
	"fmt"
	"math"
	"regexp"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// regexpWord reports whether word appears in msg as a whole word.
func regexpWord(word, msg string) bool {
	return regexp.MustCompile(`\b` + regexp.QuoteMeta(word) + `\b`).MatchString(msg)
}

// convNet is a small CNN written in backend ops, shaped like the
// model's CNN but with padding, an overlapping pool and no second pool, so
// that every convolution op and every GEMM orientation of a convolution is
// on the gradient's path:
//
//	x (B, 7, 7, 2) → conv 3×3 pad 1, 2→4, ReLU → (B, 7, 7, 4)
//	→ max-pool 3, stride 2 → (B, 3, 3, 4)
//	→ conv 2×2, 4→3, ReLU → (B, 2, 2, 3) → flatten 12 → linear 12→5 → softmax cross-entropy
//
// Parameters live in one flat buffer: W1 [4, 2, 3, 3], b1, W2 [3, 4, 2, 2],
// b2, W3 [5, 12], b3 (PyTorch's layouts, the linear layer's inputs in NHWC
// order).
type convNet struct {
	x        *tb
	batch    int
	g1, g2   nn.ConvGeom
	pool     nn.PoolGeom
	params   nn.Buffer
	grads    nn.Buffer
	in, dx   nn.Buffer // the input and its gradient
	cols1    nn.Buffer // Im2Col(x); reused for its gradient
	act1     nn.Buffer // conv 1 after ReLU (B·7·7, 4)
	dact1    nn.Buffer
	pooled   nn.Buffer // (B·3·3·4)
	dpooled  nn.Buffer
	argmax   nn.Buffer
	cols2    nn.Buffer
	act2     nn.Buffer // conv 2 after ReLU (B·2·2, 3) = flattened (B, 12)
	dact2    nn.Buffer
	logits   nn.Buffer
	dlogits  nn.Buffer
	labels   nn.Buffer
	loss     nn.Buffer
	off      [6]int // offsets of W1, b1, W2, b2, W3, b3
	sizes    [6]int
	nParams  int
	classes  int
	features int
}

func newConvNet(x *tb, batch int) *convNet {
	n := &convNet{x: x, batch: batch, classes: 5}
	n.g1 = nn.ConvGeom{Batch: batch, H: 7, W: 7, C: 2, KH: 3, KW: 3, Stride: 1, Pad: 1}
	n.pool = nn.PoolGeom{Batch: batch, H: 7, W: 7, C: 4, Size: 3, Stride: 2}
	n.g2 = nn.ConvGeom{Batch: batch, H: 3, W: 3, C: 4, KH: 2, KW: 2, Stride: 1}
	n.features = n.g2.OutH() * n.g2.OutW() * 3
	n.sizes = [6]int{4 * n.g1.Cols(), 4, 3 * n.g2.Cols(), 3, n.classes * n.features, n.classes}
	for i, s := range n.sizes {
		n.off[i] = n.nParams
		n.nParams += s
	}
	f := func(k int) nn.Buffer { return x.alloc(nn.Float32, k) }
	n.params, n.grads = f(n.nParams), f(n.nParams)
	n.in, n.dx = f(n.g1.InputLen()), f(n.g1.InputLen())
	n.cols1 = f(n.g1.Rows() * n.g1.Cols())
	n.act1, n.dact1 = f(n.g1.Rows()*4), f(n.g1.Rows()*4)
	n.pooled, n.dpooled = f(n.pool.OutputLen()), f(n.pool.OutputLen())
	n.argmax = x.alloc(nn.Int32, n.pool.OutputLen())
	n.cols2 = f(n.g2.Rows() * n.g2.Cols())
	n.act2, n.dact2 = f(n.g2.Rows()*3), f(n.g2.Rows()*3)
	n.logits, n.dlogits = f(batch*n.classes), f(batch*n.classes)
	n.labels, n.loss = x.alloc(nn.Int32, batch), f(1)
	return n
}

func (n *convNet) view(buf nn.Buffer, i int) nn.Buffer { return buf.Slice(n.off[i], n.sizes[i]) }

// forward computes the logits and the loss.
func (n *convNet) forward() {
	b, p := n.x.b, n.params
	b.Im2Col(n.cols1, n.in, n.g1)
	b.Gemm(nn.Gemm{TransB: true, M: n.g1.Rows(), N: 4, K: n.g1.Cols(), Alpha: 1, A: n.cols1, B: n.view(p, 0), C: n.act1, Bias: n.view(p, 1), ReLU: true})
	b.MaxPool2D(n.pooled, n.argmax, n.act1, n.pool)
	b.Im2Col(n.cols2, n.pooled, n.g2)
	b.Gemm(nn.Gemm{TransB: true, M: n.g2.Rows(), N: 3, K: n.g2.Cols(), Alpha: 1, A: n.cols2, B: n.view(p, 2), C: n.act2, Bias: n.view(p, 3), ReLU: true})
	b.Gemm(nn.Gemm{TransB: true, M: n.batch, N: n.classes, K: n.features, Alpha: 1, A: n.act2, B: n.view(p, 4), C: n.logits, Bias: n.view(p, 5)})
	b.SoftmaxCrossEntropy(n.loss, n.dlogits, n.logits, n.labels, n.batch, n.classes)
}

// backward computes every parameter's gradient and the input's.
func (n *convNet) backward() {
	b, p, g := n.x.b, n.params, n.grads
	// Linear: dW3 = dlogitsᵀ·act2, db3, dact2 = dlogits·W3 masked by the ReLU of conv 2.
	b.Gemm(nn.Gemm{TransA: true, M: n.classes, N: n.features, K: n.batch, Alpha: 1, A: n.dlogits, B: n.act2, C: n.view(g, 4)})
	b.ColumnSums(n.view(g, 5), n.dlogits, n.batch, n.classes)
	b.Gemm(nn.Gemm{M: n.batch, N: n.features, K: n.classes, Alpha: 1, A: n.dlogits, B: n.view(p, 4), C: n.dact2, Mask: n.act2})
	// Conv 2: dW2 = dact2ᵀ·cols2, db2, dcols2 = dact2·W2 (into cols2), dpooled = Col2Im(dcols2).
	b.Gemm(nn.Gemm{TransA: true, M: 3, N: n.g2.Cols(), K: n.g2.Rows(), Alpha: 1, A: n.dact2, B: n.cols2, C: n.view(g, 2)})
	b.ColumnSums(n.view(g, 3), n.dact2, n.g2.Rows(), 3)
	b.Gemm(nn.Gemm{M: n.g2.Rows(), N: n.g2.Cols(), K: 3, Alpha: 1, A: n.dact2, B: n.view(p, 2), C: n.cols2})
	b.Col2Im(n.dpooled, n.cols2, n.g2)
	// The pooled values are maxima of ReLU outputs: where one is 0 the ReLU
	// was off at the window's argmax, so masking here is conv 1's ReLU.
	b.ReLUBackward(n.dpooled, n.pooled, n.pool.OutputLen())
	b.MaxPool2DBackward(n.dact1, n.dpooled, n.argmax, n.pool)
	// Conv 1: dW1, db1, and the input's gradient through Col2Im.
	b.Gemm(nn.Gemm{TransA: true, M: 4, N: n.g1.Cols(), K: n.g1.Rows(), Alpha: 1, A: n.dact1, B: n.cols1, C: n.view(g, 0)})
	b.ColumnSums(n.view(g, 1), n.dact1, n.g1.Rows(), 4)
	b.Gemm(nn.Gemm{M: n.g1.Rows(), N: n.g1.Cols(), K: 4, Alpha: 1, A: n.dact1, B: n.view(p, 0), C: n.cols1})
	b.Col2Im(n.dx, n.cols1, n.g1)
}

// hostConvLoss is the float64 definition of convNet's loss, with the
// pattern of ReLU signs and pooling choices (a finite difference across a
// change of pattern crosses a kink).
func (n *convNet) hostLoss(params, x []float64, labels []int32) (float64, []int) {
	var pattern []int
	conv := func(in []float64, g nn.ConvGeom, w, bias []float64, out int) []float64 {
		y := make([]float64, g.Rows()*out)
		for r := 0; r < g.Rows(); r++ {
			for o := 0; o < out; o++ {
				z := bias[o]
				for col := 0; col < g.Cols(); col++ {
					if src := convSource(g, r, col); src >= 0 {
						z += in[src] * w[o*g.Cols()+col]
					}
				}
				if z > 0 {
					pattern = append(pattern, 1)
				} else {
					pattern = append(pattern, 0)
					z = 0
				}
				y[r*out+o] = z
			}
		}
		return y
	}
	ps := func(i int) []float64 { return params[n.off[i] : n.off[i]+n.sizes[i]] }
	a1 := conv(x, n.g1, ps(0), ps(1), 4)
	pooled := make([]float64, n.pool.OutputLen())
	for o := range pooled {
		best, at := math.Inf(-1), -1
		for k, src := range poolWindow(n.pool, o) {
			if a1[src] > best {
				best, at = a1[src], k
			}
		}
		pooled[o] = best
		pattern = append(pattern, 2+at)
	}
	a2 := conv(pooled, n.g2, ps(2), ps(3), 3)
	w3, b3 := ps(4), ps(5)
	var loss float64
	for r := 0; r < n.batch; r++ {
		logits := make([]float64, n.classes)
		m := math.Inf(-1)
		for c := range logits {
			z := b3[c]
			for k := 0; k < n.features; k++ {
				z += a2[r*n.features+k] * w3[c*n.features+k]
			}
			logits[c] = z
			m = math.Max(m, z)
		}
		var sum float64
		for _, z := range logits {
			sum += math.Exp(z - m)
		}
		loss += m + math.Log(sum) - logits[labels[r]]
	}
	return loss / float64(n.batch), pattern
}

// testConvGradientCheck checks the gradients of convNet, computed from the
// backend's ops, against float64 central differences of its definition,
// for every parameter and input element, skipping coordinates whose
// perturbation changes a ReLU sign or a pooling choice.
func (s *suite) testConvGradientCheck(t *testing.T) {
	x := s.backend(t)
	const batch = 3
	n := newConvNet(x, batch)
	r := newRand(90)
	params := make([]float32, n.nParams)
	fanIn := []int{n.g1.Cols(), n.g1.Cols(), n.g2.Cols(), n.g2.Cols(), n.features, n.features}
	for i := range n.sizes {
		bound := 2 / math.Sqrt(float64(fanIn[i])) // twice PyTorch's bound: every layer matters
		copy(params[n.off[i]:], uniforms(r, n.sizes[i], -bound, bound))
	}
	input := normals(r, n.g1.InputLen(), 0.9)
	labels := []int32{3, 0, 4}
	x.put(n.params, params)
	x.put(n.in, input)
	x.put(n.labels, labels)
	n.forward()
	n.backward()
	x.sync()
	grads := x.f32(n.grads, n.nParams)
	dx := x.f32(n.dx, n.g1.InputLen())

	p64, x64 := widen(params), widen(input)
	hl, _ := n.hostLoss(p64, x64, labels)
	closeTo(t, "backend loss vs float64 definition", x.f32(n.loss, 1), []float32{float32(hl)}, 1, tolerance{atol: 1e-6, rtol: 1e-5})

	names := []string{"W1", "b1", "W2", "b2", "W3", "b3"}
	var coords []gradCoord
	for i, name := range names {
		for k := 0; k < n.sizes[i]; k++ {
			coords = append(coords, gradCoord{fmt.Sprintf("%s[%d]", name, k), grads[n.off[i]+k], false, n.off[i] + k})
		}
	}
	for k := range dx {
		coords = append(coords, gradCoord{fmt.Sprintf("x[%d]", k), dx[k], true, k})
	}
	skipped := 0
	for _, c := range coords {
		if !checkHostDifference(t, c, p64, x64, func(p, x []float64) (float64, []int) {
			return n.hostLoss(p, x, labels)
		}) {
			skipped++
		}
	}
	if skipped > len(coords)/4 {
		t.Errorf("%d of %d coordinates sit on a kink; the check proves little", skipped, len(coords))
	}
	t.Logf("checked %d of %d coordinates (%d on a kink)", len(coords)-skipped, len(coords), skipped)
}
