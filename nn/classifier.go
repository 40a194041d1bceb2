package nn

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// Classifier runs a trained model on one sample at a time: the path of
// `mnist predict` and `mnist serve`. It is safe for concurrent use. Each
// call borrows a runner (the activations of one sample, and with
// WithBackend the layers' buffers on a backend of its own) from a free list and
// returns it, so that calls which do not overlap reuse one runner and
// AppendProbabilities allocates nothing. Training and bulk evaluation go
// through a Backend and a Model instead.
//
// Without options the layers run as the Go loops below, the readable
// reference (bitwise the formulas in this file's tests). WithBackend runs
// them as a Model's forward ops on a backend (for the cpu backend: its SIMD GEMM,
// im2col and pooling kernels), which agrees with the Go loops within float
// rounding (the sums are added in another order).
type Classifier struct {
	Info   ModelInfo
	params []float32
	layers []layer
	convW  [][]float32  // per layer: a conv layer's weights as [C, KH, KW, Out], else nil
	table  [256]float32 // pixel → normalised input
	open   Opener       // nil: the Go loops

	mu     sync.Mutex
	idle   []*classifierRunner // runners not in use, at most GOMAXPROCS
	closed bool
}

// ClassifierOption configures NewClassifier and LoadClassifier.
type ClassifierOption func(*Classifier)

// WithBackend runs the classifier's layers on backends that open returns,
// one per call in flight (each holding a copy of the parameters and one
// sample's activations), instead of the Go loops. The backend should run
// each op on the calling goroutine (for the cpu backend,
// cpu.New(cpu.WithThreads(1))): concurrent calls already use the other
// cores, and a single image is too small to split.
func WithBackend(open Opener) ClassifierOption {
	return func(c *Classifier) { c.open = open }
}

// NewClassifier wraps the parameters of info.Spec. With WithBackend it
// opens the first backend now, so that an error is reported here.
func NewClassifier(params []float32, info ModelInfo, opts ...ClassifierOption) (*Classifier, error) {
	if err := info.Spec.Validate(); err != nil {
		return nil, err
	}
	if len(params) != info.Spec.NumParams() {
		return nil, fmt.Errorf("%d parameters for a %s, which has %d", len(params), info.Spec, info.Spec.NumParams())
	}
	c := &Classifier{Info: info, params: params, layers: info.Spec.layers()}
	for _, o := range opts {
		o(c)
	}
	c.convW = make([][]float32, len(c.layers))
	for i, l := range c.layers {
		if l.Kind != convLayer || c.open != nil {
			continue
		}
		// Transposed so that conv's inner loop runs over the outputs.
		w := params[l.Weight.Offset : l.Weight.Offset+l.Weight.Size()]
		taps, out := l.Conv.C*l.Conv.KH*l.Conv.KW, l.Out.C
		t := make([]float32, len(w))
		for o := 0; o < out; o++ {
			for k := 0; k < taps; k++ {
				t[k*out+o] = w[o*taps+k]
			}
		}
		c.convW[i] = t
	}
	scale, shift := info.Norm.ScaleShift()
	for p := range c.table {
		c.table[p] = float32(p)*scale + shift
	}
	if c.open != nil {
		r, err := c.newRunner()
		if err != nil {
			return nil, err
		}
		c.put(r)
	}
	return c, nil
}

// LoadClassifier reads a model file (see LoadModel) into a Classifier.
func LoadClassifier(path string, opts ...ClassifierOption) (*Classifier, error) {
	params, info, err := LoadModel(path)
	if err != nil {
		return nil, err
	}
	return NewClassifier(params, info, opts...)
}

// Probabilities returns the softmax of the model's logits for one image of
// Rows×Cols uint8 pixels (ink bright, as in MNIST).
func (c *Classifier) Probabilities(pixels []uint8) ([]float64, error) {
	return c.AppendProbabilities(nil, pixels)
}

// AppendProbabilities appends Probabilities(pixels) to dst and returns the
// extended slice; with room for the classes in dst it allocates nothing.
func (c *Classifier) AppendProbabilities(dst []float64, pixels []uint8) ([]float64, error) {
	spec := c.Info.Spec
	if len(pixels) != spec.Inputs() {
		return dst, fmt.Errorf("image has %d pixels, the model takes %d×%d = %d", len(pixels), spec.Rows, spec.Cols, spec.Inputs())
	}
	r, err := c.get()
	if err != nil {
		return dst, err
	}
	logits, err := r.logitsOf(c, pixels)
	if err != nil {
		r.close() // its backend's errors are sticky
		return dst, fmt.Errorf("run the %s: %w", spec, err)
	}
	n := len(dst)
	dst = slices.Grow(dst, len(logits))[:n+len(logits)]
	softmax(dst[n:], logits)
	c.put(r)
	return dst, nil
}

// Close closes the backends of WithBackend's runners (calls still running
// close theirs when they finish). The Classifier must not be used after.
func (c *Classifier) Close() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, r := range idle {
		r.close()
	}
}

// classifierRunner is what one call in flight needs: the input, and either
// every layer's activations for the Go loops or a batch-1 backendNet on a
// backend of its own.
type classifierRunner struct {
	input []float32   // the normalised pixels
	acts  [][]float32 // Go loops: acts[i] is layer i's output (nil for a flatten)

	backend   Backend
	net       *backendNet
	x         Buffer // the model's input: input itself when the backend wraps host memory
	wrapped   bool
	inputAny  any // input and logits as Upload and Download take them, boxed once
	logits    []float32
	logitsAny any
}

// get returns an idle runner, or a new one.
func (c *Classifier) get() (*classifierRunner, error) {
	c.mu.Lock()
	if n := len(c.idle); n > 0 {
		r := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return r, nil
	}
	c.mu.Unlock()
	return c.newRunner()
}

// put returns r to the free list, or closes it when the list is full (more
// calls were in flight at once than there are threads to run them) or the
// Classifier is closed.
func (c *Classifier) put(r *classifierRunner) {
	c.mu.Lock()
	keep := !c.closed && len(c.idle) < max(runtime.GOMAXPROCS(0), 1)
	if keep {
		c.idle = append(c.idle, r)
	}
	c.mu.Unlock()
	if !keep {
		r.close()
	}
}

func (c *Classifier) newRunner() (*classifierRunner, error) {
	spec := c.Info.Spec
	r := &classifierRunner{input: make([]float32, spec.Inputs())}
	if c.open == nil {
		r.acts = make([][]float32, len(c.layers))
		for i, l := range c.layers {
			if l.Kind != flattenLayer {
				r.acts[i] = make([]float32, l.Out.len())
			}
		}
		return r, nil
	}
	b, err := c.open()
	if err != nil {
		return nil, fmt.Errorf("open the classifier's backend: %w", err)
	}
	r.backend = b
	fail := func(err error) (*classifierRunner, error) {
		r.close()
		return nil, fmt.Errorf("prepare the %s on %s: %w", spec, b.Name(), err)
	}
	if r.net, err = newBackendNet(b, c.layers, c.params); err != nil {
		return fail(err)
	}
	if hw, ok := b.(HostWrapper); ok {
		r.x, err = hw.Wrap(r.input)
		r.wrapped = err == nil
	}
	if !r.wrapped {
		if r.x, err = b.Alloc(Float32, len(r.input)); err != nil {
			return fail(err)
		}
	}
	r.logits = make([]float32, spec.Classes)
	r.inputAny, r.logitsAny = r.input, r.logits
	return r, nil
}

// logitsOf runs the model on pixels and returns its logits (valid until
// the runner's next call).
func (r *classifierRunner) logitsOf(c *Classifier, pixels []uint8) ([]float32, error) {
	x := r.input
	for i, p := range pixels {
		x[i] = c.table[p]
	}
	if r.net == nil {
		for i, l := range c.layers {
			switch l.Kind {
			case linearLayer:
				x = c.linear(l, r.acts[i], x)
			case convLayer:
				x = c.conv(l, c.convW[i], r.acts[i], x)
			case poolLayer:
				x = maxPool(l, r.acts[i], x)
			}
		}
		return x, nil
	}
	if !r.wrapped {
		if err := r.backend.Upload(r.x, r.inputAny); err != nil {
			return nil, err
		}
	}
	out := r.net.forward(r.x)
	if err := r.backend.Download(r.logitsAny, out); err != nil {
		return nil, err
	}
	return r.logits, nil
}

// close releases the runner's backend, if it has one.
func (r *classifierRunner) close() {
	if r.backend == nil {
		return
	}
	if r.net != nil {
		r.net.close()
	}
	if r.x != nil {
		r.backend.Free(r.x)
	}
	r.backend.Close()
	r.backend = nil
}

// linear sets y to x·Wᵀ + b for one sample, then the ReLU if the layer has
// one, and returns it.
func (c *Classifier) linear(l layer, y, x []float32) []float32 {
	in := l.In.len()
	w := c.params[l.Weight.Offset : l.Weight.Offset+l.Weight.Size()] // (Out, In)
	b := c.params[l.Bias.Offset : l.Bias.Offset+l.Bias.Size()]       // (Out)
	y = y[:l.Out.C]
	for o := range y {
		row := w[o*in : (o+1)*in]
		sum := b[o]
		for i, v := range x {
			sum += row[i] * v
		}
		y[o] = activate(sum, l.ReLU)
	}
	return y
}

// conv sets y to the convolution of one sample x (H×W×C, NHWC) with the
// layer's weights [Out, C, KH, KW], given transposed as wt [C, KH, KW, Out],
// plus bias, then the ReLU if the layer has one, and returns it:
// y[oy, ox, o] = b[o] + Σ_c,i,j w[o, c, i, j]·x[oy·S−P+i, ox·S−P+j, c].
// Each output pixel's Out sums run side by side, each adding its terms in
// the order of the formula (c, then i, then j; taps in the padding
// skipped), so the result is bitwise convReference's; the inner loop runs
// over contiguous weights and sums.
func (c *Classifier) conv(l layer, wt, y, x []float32) []float32 {
	g := l.Conv
	b := c.params[l.Bias.Offset : l.Bias.Offset+l.Bias.Size()]
	oh, ow, out := g.OutH(), g.OutW(), l.Out.C
	y = y[:oh*ow*out]
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			acc := y[(oy*ow+ox)*out : (oy*ow+ox+1)*out]
			copy(acc, b)
			for ch := 0; ch < g.C; ch++ {
				for i := 0; i < g.KH; i++ {
					iy := oy*g.Stride - g.Pad + i
					if iy < 0 || iy >= g.H {
						continue
					}
					for j := 0; j < g.KW; j++ {
						ix := ox*g.Stride - g.Pad + j
						if ix < 0 || ix >= g.W {
							continue
						}
						v := x[(iy*g.W+ix)*g.C+ch]
						row := wt[((ch*g.KH+i)*g.KW+j)*out:][:len(acc)]
						for o, wv := range row {
							acc[o] += wv * v
						}
					}
				}
			}
			for o, v := range acc {
				acc[o] = activate(v, l.ReLU)
			}
		}
	}
	return y
}

// maxPool sets y to the maxima of the Size×Size windows of one sample x
// (NHWC) and returns it.
func maxPool(l layer, y, x []float32) []float32 {
	g := l.Pool
	oh, ow := g.OutH(), g.OutW()
	y = y[:oh*ow*g.C]
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			for ch := 0; ch < g.C; ch++ {
				best := float32(math.Inf(-1))
				for i := 0; i < g.Size; i++ {
					for j := 0; j < g.Size; j++ {
						best = max(best, x[((oy*g.Stride+i)*g.W+ox*g.Stride+j)*g.C+ch])
					}
				}
				y[(oy*ow+ox)*g.C+ch] = best
			}
		}
	}
	return y
}

func activate(v float32, relu bool) float32 {
	if relu && v < 0 {
		return 0
	}
	return v
}

// softmax sets p (len(logits) long) to the softmax of logits, in float64.
func softmax(p []float64, logits []float32) {
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	var sum float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
}

// Ranked is one class and its probability.
type Ranked struct {
	Class       int     `json:"digit"` // the output's index, 0-based
	Probability float64 `json:"probability"`
	Name        string  `json:"name,omitempty"` // the class's name (ModelInfo.ClassName), when filled in
}

// Top returns the k most probable classes, most probable first.
func Top(probs []float64, k int) []Ranked {
	r := make([]Ranked, len(probs))
	for i, p := range probs {
		r[i] = Ranked{Class: i, Probability: p}
	}
	sort.SliceStable(r, func(i, j int) bool { return r[i].Probability > r[j].Probability })
	return r[:min(k, len(r))]
}
