package backendtest

import (
	"fmt"
	"math"

	"github.com/mnist-go/mnist/nn"
)

// MLP is a fully connected ReLU network built from backend ops alone, shaped
// like the tutorial model (784-64-32-10): each layer is y = x·Wᵀ + b with W
// stored out×in as PyTorch does, ReLU between layers (fused into the GEMM
// epilogue), softmax cross-entropy on the logits. Parameters and gradients
// each live in one flat buffer, laid out W0, b0, W1, b1, …, so one SGD call
// updates everything. The suite trains it; backend benchmarks time its Step.
type MLP struct {
	Backend nn.Backend
	Sizes   []int // layer widths, input first
	Batch   int

	Params, Grads nn.Buffer   // all weights and biases, flat
	W, B          []nn.Buffer // per layer: views of Params (W[l] is Sizes[l+1]×Sizes[l])
	DW, DB        []nn.Buffer // the matching views of Grads
	Act           []nn.Buffer // Act[0] is the input (Batch×Sizes[0]); Act[l] the output of layer l
	DAct          []nn.Buffer // DAct[l] is ∂loss/∂Act[l]; DAct[0] is filled by Backward(true)
	Labels        nn.Buffer   // int32, Batch
	Loss          nn.Buffer   // float32, 1: the mean loss of the last Backward
}

// NewMLP allocates an MLP with the given layer widths (at least input and
// output) and batch size on b. Its parameters are zero until SetParams.
func NewMLP(b nn.Backend, sizes []int, batch int) (*MLP, error) {
	if len(sizes) < 2 || batch < 1 {
		return nil, fmt.Errorf("NewMLP: need at least 2 layer sizes and a positive batch, got %v and %d", sizes, batch)
	}
	m := &MLP{Backend: b, Sizes: append([]int(nil), sizes...), Batch: batch}
	var err error
	alloc := func(t nn.DType, n int) nn.Buffer {
		if err != nil {
			return nil
		}
		var buf nn.Buffer
		buf, err = b.Alloc(t, n)
		return buf
	}
	n := m.NumParams()
	m.Params, m.Grads = alloc(nn.Float32, n), alloc(nn.Float32, n)
	for l := range sizes {
		m.Act = append(m.Act, alloc(nn.Float32, batch*sizes[l]))
		m.DAct = append(m.DAct, alloc(nn.Float32, batch*sizes[l]))
	}
	m.Labels, m.Loss = alloc(nn.Int32, batch), alloc(nn.Float32, 1)
	if err != nil {
		m.Free()
		return nil, fmt.Errorf("NewMLP: %w", err)
	}
	off := 0
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		m.W = append(m.W, m.Params.Slice(off, out*in))
		m.DW = append(m.DW, m.Grads.Slice(off, out*in))
		off += out * in
		m.B = append(m.B, m.Params.Slice(off, out))
		m.DB = append(m.DB, m.Grads.Slice(off, out))
		off += out
	}
	return m, nil
}

// NumParams returns the number of weights and biases.
func (m *MLP) NumParams() int {
	n := 0
	for l := 0; l+1 < len(m.Sizes); l++ {
		n += m.Sizes[l+1]*m.Sizes[l] + m.Sizes[l+1]
	}
	return n
}

// InitParams returns parameters drawn as PyTorch's nn.Linear draws them,
// uniform in ±1/√in for weights and biases, from a seeded generator.
func (m *MLP) InitParams(seed uint64) []float32 {
	r := newRand(seed)
	p := make([]float32, 0, m.NumParams())
	for l := 0; l+1 < len(m.Sizes); l++ {
		in, out := m.Sizes[l], m.Sizes[l+1]
		bound := 1 / math.Sqrt(float64(in))
		p = append(p, uniforms(r, out*in+out, -bound, bound)...)
	}
	return p
}

// SetParams uploads parameters laid out as Params is.
func (m *MLP) SetParams(p []float32) error { return m.Backend.Upload(m.Params, p) }

// Gather fills the input batch and labels from a uint8 data set in backend
// memory (see nn.Backend.Gather).
func (m *MLP) Gather(images, labels, order nn.Buffer, start int, scale, shift float32) {
	m.Backend.Gather(m.Act[0], m.Labels, images, labels, order, start, m.Batch, m.Sizes[0], scale, shift)
}

// Forward computes every layer's output from Act[0]; the last is the logits.
func (m *MLP) Forward() {
	for l := range m.W {
		// x is (Batch, in), W is (out, in): y = x·Wᵀ + b is (Batch, out).
		m.Backend.Gemm(nn.Gemm{TransB: true, M: m.Batch, N: m.Sizes[l+1], K: m.Sizes[l], Alpha: 1,
			A: m.Act[l], B: m.W[l], C: m.Act[l+1], Bias: m.B[l], ReLU: l+1 < len(m.W)})
	}
}

// LossOnly writes the mean loss of the current logits against Labels.
func (m *MLP) LossOnly() {
	L := len(m.Sizes) - 1
	m.Backend.SoftmaxCrossEntropy(m.Loss, nil, m.Act[L], m.Labels, m.Batch, m.Sizes[L])
}

// Backward computes the loss and every gradient after Forward; with
// inputGrad it also computes DAct[0], the gradient with respect to the input.
func (m *MLP) Backward(inputGrad bool) {
	L := len(m.Sizes) - 1
	b := m.Backend
	b.SoftmaxCrossEntropy(m.Loss, m.DAct[L], m.Act[L], m.Labels, m.Batch, m.Sizes[L])
	for l := L - 1; l >= 0; l-- {
		in, out := m.Sizes[l], m.Sizes[l+1]
		// dy is (Batch, out), x is (Batch, in): dW = dyᵀ·x is (out, in).
		b.Gemm(nn.Gemm{TransA: true, M: out, N: in, K: m.Batch, Alpha: 1, A: m.DAct[l+1], B: m.Act[l], C: m.DW[l]})
		b.ColumnSums(m.DB[l], m.DAct[l+1], m.Batch, out)
		if l > 0 || inputGrad {
			// dx = dy·W is (Batch, in), zeroed where the ReLU that made x was off.
			g := nn.Gemm{M: m.Batch, N: in, K: out, Alpha: 1, A: m.DAct[l+1], B: m.W[l], C: m.DAct[l]}
			if l > 0 {
				g.Mask = m.Act[l]
			}
			b.Gemm(g)
		}
	}
}

// Step runs one training step: gather a batch, forward, backward, plain SGD.
func (m *MLP) Step(images, labels, order nn.Buffer, start int, lr float32) {
	m.Gather(images, labels, order, start, 1.0/255, 0)
	m.Forward()
	m.Backward(false)
	m.Backend.SGD(m.Params, m.Grads, nil, lr, 0, 0, false)
}

// Free releases the MLP's buffers.
func (m *MLP) Free() {
	for _, b := range append(append([]nn.Buffer{m.Params, m.Grads, m.Labels, m.Loss}, m.Act...), m.DAct...) {
		if b != nil {
			m.Backend.Free(b)
		}
	}
}
