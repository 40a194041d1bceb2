package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model is a network built on a Backend: its parameters and their gradients
// live in two flat buffers (one optimiser launch updates everything), and the
// activations of the largest batch it will see are allocated once.
//
// Activations are NHWC: a convolution's output is the rows×channels matrix
// its GEMM writes, and flattening it costs nothing.
type Model struct {
	Spec    Spec
	Backend Backend
	Params  Buffer // every parameter, in Spec.Params order
	Grads   Buffer // their gradients, same layout

	layers   []layer
	maxBatch int
	acts     []Buffer // acts[i] is the output of layer i (maxBatch × Out), after its ReLU; nil for a flatten
	dacts    []Buffer // dacts[i] is the loss gradient with respect to acts[i]; nil for a flatten
	cols     []Buffer // conv layers: the column matrix of the input, then its gradient
	argmax   []Buffer // pool layers: the position of each window's maximum (int32)
	ones     Buffer   // 1s, as many as a convolution's output rows: its bias gradient is ones·dy
	weights  []Buffer // views of Params (nil for layers without parameters)
	biases   []Buffer
	dweights []Buffer // views of Grads
	dbiases  []Buffer
	owned    []Buffer // what Close frees
}

// NewModel allocates a model for spec on b that accepts batches of up to
// maxBatch samples. Parameters start at zero; call Init or SetParams.
func NewModel(b Backend, spec Spec, maxBatch int) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if maxBatch < 1 {
		return nil, fmt.Errorf("model batch size %d: must be at least 1", maxBatch)
	}
	m := &Model{Spec: spec, Backend: b, layers: spec.layers(), maxBatch: maxBatch}
	n := spec.NumParams()
	var err error
	if m.Params, err = m.alloc(Float32, n, "parameters"); err != nil {
		return nil, err
	}
	if m.Grads, err = m.alloc(Float32, n, "gradients"); err != nil {
		m.Close()
		return nil, err
	}
	k := len(m.layers)
	m.acts, m.dacts, m.cols, m.argmax = make([]Buffer, k), make([]Buffer, k), make([]Buffer, k), make([]Buffer, k)
	m.weights, m.biases, m.dweights, m.dbiases = make([]Buffer, k), make([]Buffer, k), make([]Buffer, k), make([]Buffer, k)
	if err := m.allocOnes(); err != nil {
		m.Close()
		return nil, err
	}
	for i, l := range m.layers {
		if err := m.allocLayer(i, l); err != nil {
			m.Close()
			return nil, err
		}
		if l.hasParams() {
			m.weights[i] = m.Params.Slice(l.Weight.Offset, l.Weight.Size())
			m.biases[i] = m.Params.Slice(l.Bias.Offset, l.Bias.Size())
			m.dweights[i] = m.Grads.Slice(l.Weight.Offset, l.Weight.Size())
			m.dbiases[i] = m.Grads.Slice(l.Bias.Offset, l.Bias.Size())
		}
	}
	return m, nil
}

// allocOnes allocates and fills the vector of 1s that the convolutions'
// bias gradients multiply, when there are convolutions.
func (m *Model) allocOnes() error {
	n := 0
	for i, l := range m.layers {
		if l.Kind == convLayer {
			n = max(n, m.conv(i, m.maxBatch).Rows())
		}
	}
	if n == 0 {
		return nil
	}
	var err error
	if m.ones, err = m.alloc(Float32, n, "bias-gradient ones"); err != nil {
		return err
	}
	ones := make([]float32, n)
	for i := range ones {
		ones[i] = 1
	}
	return m.Backend.Upload(m.ones, ones)
}

// allocLayer allocates layer i's activations, gradients and scratch.
func (m *Model) allocLayer(i int, l layer) error {
	if l.Kind == flattenLayer {
		return nil
	}
	var err error
	what := func(s string) string { return fmt.Sprintf("layer %d %s", i+1, s) }
	size := m.maxBatch * l.Out.len()
	if m.acts[i], err = m.alloc(Float32, size, what("activations")); err != nil {
		return err
	}
	switch l.Kind {
	case convLayer:
		g := m.conv(i, m.maxBatch)
		if m.cols[i], err = m.alloc(Float32, g.Rows()*g.Cols(), what("column matrix")); err != nil {
			return err
		}
	case poolLayer:
		if m.argmax[i], err = m.alloc(Int32, size, what("pooling positions")); err != nil {
			return err
		}
	}
	// A layer followed by a pool needs its output only for the pool's
	// forward pass: the pool's backward pass reads the argmax alone, so the
	// gradient can take the activations' place.
	if i+1 < len(m.layers) && m.layers[i+1].Kind == poolLayer {
		m.dacts[i] = m.acts[i]
		return nil
	}
	m.dacts[i], err = m.alloc(Float32, size, what("gradients"))
	return err
}

func (m *Model) alloc(t DType, n int, what string) (Buffer, error) {
	buf, err := m.Backend.Alloc(t, n)
	if err != nil {
		return nil, fmt.Errorf("allocate %s (%d %s): %w", what, n, t, err)
	}
	m.owned = append(m.owned, buf)
	return buf, nil
}

// conv returns layer i's convolution for a batch of rows samples.
func (m *Model) conv(i, rows int) ConvGeom {
	g := m.layers[i].Conv
	g.Batch = rows
	return g
}

// pool returns layer i's pooling for a batch of rows samples.
func (m *Model) pool(i, rows int) PoolGeom {
	g := m.layers[i].Pool
	g.Batch = rows
	return g
}

// MaxBatch returns the largest batch Forward accepts.
func (m *Model) MaxBatch() int { return m.maxBatch }

// Close frees the model's buffers.
func (m *Model) Close() {
	for _, b := range m.owned {
		m.Backend.Free(b)
	}
	m.owned = nil
}

// InitParams returns freshly initialised parameters for spec, as PyTorch's
// nn.Linear does: weights and biases uniform in ±1/sqrt(fan_in), drawn in
// Spec.Params order from a PCG stream of seed (the same on every machine).
func InitParams(spec Spec, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 0x6d6f64656c)) // stream "model"
	p := make([]float32, spec.NumParams())
	for _, ps := range spec.Params() {
		bound := 1 / math.Sqrt(float64(ps.FanIn))
		for i := ps.Offset; i < ps.Offset+ps.Size(); i++ {
			p[i] = float32((2*rng.Float64() - 1) * bound)
		}
	}
	return p
}

// Init sets the parameters to InitParams(spec, seed).
func (m *Model) Init(seed uint64) error {
	return m.SetParams(InitParams(m.Spec, seed))
}

// SetParams uploads a flat parameter vector laid out as Spec.Params says.
func (m *Model) SetParams(p []float32) error {
	if len(p) != m.Spec.NumParams() {
		return fmt.Errorf("set parameters: %d values for a %s with %d parameters", len(p), m.Spec, m.Spec.NumParams())
	}
	return m.Backend.Upload(m.Params, p)
}

// ParamsHost downloads the flat parameter vector.
func (m *Model) ParamsHost() ([]float32, error) {
	p := make([]float32, m.Spec.NumParams())
	if err := m.Backend.Download(p, m.Params); err != nil {
		return nil, err
	}
	return p, nil
}

// output returns the buffer holding layer i's output for input x: its
// activations, or for a flatten its input's.
func (m *Model) output(i int, x Buffer) Buffer {
	for ; i >= 0; i-- {
		if m.layers[i].Kind != flattenLayer {
			return m.acts[i]
		}
	}
	return x
}

// input returns the buffer holding layer i's input.
func (m *Model) input(i int, x Buffer) Buffer { return m.output(i-1, x) }

// outputGrad returns the buffer holding the gradient with respect to layer
// i's output (nil for the input of the network, which gets none).
func (m *Model) outputGrad(i int) Buffer {
	for ; i >= 0; i-- {
		if m.layers[i].Kind != flattenLayer {
			return m.dacts[i]
		}
	}
	return nil
}

// Forward queues the forward pass of rows samples x (rows × inputs, each
// image row-major: NHWC with one channel) and returns the logits buffer
// (rows × classes, valid until the next Forward).
func (m *Model) Forward(x Buffer, rows int) Buffer {
	b := m.Backend
	for i, l := range m.layers {
		in, out := m.input(i, x), m.acts[i]
		switch l.Kind {
		case linearLayer:
			// in is (rows, In), weight is (Out, In): out = in·weightᵀ + bias.
			b.Gemm(Gemm{
				TransB: true, M: rows, N: l.Out.C, K: l.In.len(), Alpha: 1,
				A: in, B: m.weights[i], C: out, Bias: m.biases[i], ReLU: l.ReLU,
			})
		case convLayer:
			// cols is (rows·OH·OW, C·KH·KW), weight is (Out, C·KH·KW): out = cols·weightᵀ + bias.
			g := m.conv(i, rows)
			b.Im2Col(m.cols[i], in, g)
			b.Gemm(Gemm{
				TransB: true, M: g.Rows(), N: l.Out.C, K: g.Cols(), Alpha: 1,
				A: m.cols[i], B: m.weights[i], C: out, Bias: m.biases[i], ReLU: l.ReLU,
			})
		case poolLayer:
			b.MaxPool2D(out, m.argmax[i], in, m.pool(i, rows))
		}
	}
	return m.Logits()
}

// Logits returns the buffer Forward writes the logits to.
func (m *Model) Logits() Buffer { return m.acts[len(m.acts)-1] }

// LogitsGrad returns the buffer Backward reads the loss gradient with
// respect to the logits from (rows × classes): the loss op writes it there.
func (m *Model) LogitsGrad() Buffer { return m.dacts[len(m.dacts)-1] }

// Backward queues the backward pass for the batch x that the last Forward
// saw, reading the logits' gradient from LogitsGrad and writing every
// parameter's gradient into Grads (overwriting, not accumulating). It
// overwrites activations that the backward pass no longer needs.
func (m *Model) Backward(x Buffer, rows int) {
	b := m.Backend
	for i := len(m.layers) - 1; i >= 0; i-- {
		l := m.layers[i]
		in, dout, din := m.input(i, x), m.dacts[i], m.outputGrad(i-1)
		switch l.Kind {
		case linearLayer:
			// dout is (rows, Out). dW (Out, In) = doutᵀ·in; db = Σ_rows dout.
			b.Gemm(Gemm{TransA: true, M: l.Out.C, N: l.In.len(), K: rows, Alpha: 1, A: dout, B: in, C: m.dweights[i]})
			b.ColumnSums(m.dbiases[i], dout, rows, l.Out.C)
			if l.InputGrad {
				// din (rows, In) = dout·W, zero where the ReLU below was inactive.
				g := Gemm{M: rows, N: l.In.len(), K: l.Out.C, Alpha: 1, A: dout, B: m.weights[i], C: din}
				if l.ReLUInput {
					g.Mask = in
				}
				b.Gemm(g)
			}
		case convLayer:
			// dout is (rows·OH·OW, Out). dW (Out, C·KH·KW) = doutᵀ·cols; db (1, Out) = ones·dout,
			// a GEMM rather than ColumnSums: it has tens of thousands of rows
			// and few columns, which a GEMM splits over K and ColumnSums does not.
			g := m.conv(i, rows)
			b.Gemm(Gemm{TransA: true, M: l.Out.C, N: g.Cols(), K: g.Rows(), Alpha: 1, A: dout, B: m.cols[i], C: m.dweights[i]})
			b.Gemm(Gemm{M: 1, N: l.Out.C, K: g.Rows(), Alpha: 1, A: m.ones, B: dout, C: m.dbiases[i]})
			if l.InputGrad {
				// dcols = dout·W replaces cols, then Col2Im sums it into din.
				b.Gemm(Gemm{M: g.Rows(), N: g.Cols(), K: l.Out.C, Alpha: 1, A: dout, B: m.weights[i], C: m.cols[i]})
				b.Col2Im(din, m.cols[i], g)
				if l.ReLUInput {
					b.ReLUBackward(din, in, rows*l.In.len())
				}
			}
		case poolLayer:
			// The pool's output gradient was masked by its consumer (see
			// layer.ReLUInput), which is the ReLU before the pool's backward pass.
			if l.InputGrad {
				b.MaxPool2DBackward(din, dout, m.argmax[i], m.pool(i, rows))
			}
		}
	}
}
