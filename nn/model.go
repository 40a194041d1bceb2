package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model is a network built on a Backend: its parameters and their gradients
// live in two flat buffers (one optimiser launch updates everything), and the
// activations of the largest batch it will see are allocated once.
type Model struct {
	Spec    Spec
	Backend Backend
	Params  Buffer // every parameter, in Spec.Params order
	Grads   Buffer // their gradients, same layout

	layers   []linearLayer
	maxBatch int
	acts     []Buffer // acts[i] is the output of layer i (maxBatch × Out), after its ReLU
	dacts    []Buffer // dacts[i] is the loss gradient with respect to acts[i]
	weights  []Buffer // views of Params
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
	for i, l := range m.layers {
		act, err := m.alloc(Float32, maxBatch*l.Out, fmt.Sprintf("layer %d activations", i+1))
		if err != nil {
			m.Close()
			return nil, err
		}
		dact, err := m.alloc(Float32, maxBatch*l.Out, fmt.Sprintf("layer %d gradients", i+1))
		if err != nil {
			m.Close()
			return nil, err
		}
		m.acts = append(m.acts, act)
		m.dacts = append(m.dacts, dact)
		m.weights = append(m.weights, m.Params.Slice(l.Weight.Offset, l.Weight.Size()))
		m.biases = append(m.biases, m.Params.Slice(l.Bias.Offset, l.Bias.Size()))
		m.dweights = append(m.dweights, m.Grads.Slice(l.Weight.Offset, l.Weight.Size()))
		m.dbiases = append(m.dbiases, m.Grads.Slice(l.Bias.Offset, l.Bias.Size()))
	}
	return m, nil
}

func (m *Model) alloc(t DType, n int, what string) (Buffer, error) {
	buf, err := m.Backend.Alloc(t, n)
	if err != nil {
		return nil, fmt.Errorf("allocate %s (%d %s): %w", what, n, t, err)
	}
	m.owned = append(m.owned, buf)
	return buf, nil
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

// Forward queues the forward pass of rows samples x (rows × inputs) and
// returns the logits buffer (rows × classes, valid until the next Forward).
func (m *Model) Forward(x Buffer, rows int) Buffer {
	b := m.Backend
	in := x
	for i, l := range m.layers {
		// in is (rows, l.In), weight is (l.Out, l.In): out = in·weightᵀ + bias.
		b.Gemm(Gemm{
			TransB: true, M: rows, N: l.Out, K: l.In, Alpha: 1,
			A: in, B: m.weights[i], C: m.acts[i], Bias: m.biases[i], ReLU: l.ReLU,
		})
		in = m.acts[i]
	}
	return in
}

// Logits returns the buffer Forward writes the logits to.
func (m *Model) Logits() Buffer { return m.acts[len(m.acts)-1] }

// LogitsGrad returns the buffer Backward reads the loss gradient with
// respect to the logits from (rows × classes): the loss op writes it there.
func (m *Model) LogitsGrad() Buffer { return m.dacts[len(m.dacts)-1] }

// Backward queues the backward pass for the batch x that the last Forward
// saw, reading the logits' gradient from LogitsGrad and writing every
// parameter's gradient into Grads (overwriting, not accumulating).
func (m *Model) Backward(x Buffer, rows int) {
	b := m.Backend
	for i := len(m.layers) - 1; i >= 0; i-- {
		l := m.layers[i]
		in := x
		if i > 0 {
			in = m.acts[i-1]
		}
		dout := m.dacts[i] // (rows, l.Out)
		// dW (l.Out, l.In) = doutᵀ · in
		b.Gemm(Gemm{TransA: true, M: l.Out, N: l.In, K: rows, Alpha: 1, A: dout, B: in, C: m.dweights[i]})
		// db (l.Out) = Σ_rows dout
		b.ColumnSums(m.dbiases[i], dout, rows, l.Out)
		if i > 0 {
			// din (rows, l.In) = dout · W, zero where the ReLU below was inactive.
			b.Gemm(Gemm{M: rows, N: l.In, K: l.Out, Alpha: 1, A: dout, B: m.weights[i], C: m.dacts[i-1], Mask: m.acts[i-1]})
		}
	}
}
