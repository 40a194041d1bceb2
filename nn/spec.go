package nn

import (
	"fmt"
	"strconv"
	"strings"
)

// Spec describes a network architecture: enough to build the model, to name
// its parameters as PyTorch does and to refuse a checkpoint of another shape.
type Spec struct {
	Model   string // "mlp"
	Rows    int    // input image height
	Cols    int    // input image width
	Hidden  []int  // hidden layer widths of an mlp, input side first
	Classes int    // outputs
}

// DefaultHidden is the PyTorch tutorial's MLP: 784-64-32-10.
var DefaultHidden = []int{64, 32}

// MLP returns the spec of a multi-layer perceptron on rows×cols images.
func MLP(rows, cols int, hidden []int, classes int) Spec {
	return Spec{Model: "mlp", Rows: rows, Cols: cols, Hidden: append([]int(nil), hidden...), Classes: classes}
}

// Inputs returns the number of input features (pixels).
func (s Spec) Inputs() int { return s.Rows * s.Cols }

// String names the architecture compactly: "mlp-64-32" (input and output
// sizes are those of the data set).
func (s Spec) String() string {
	var b strings.Builder
	b.WriteString(s.Model)
	for _, h := range s.Hidden {
		fmt.Fprintf(&b, "-%d", h)
	}
	return b.String()
}

// Validate reports a spec no model can be built from.
func (s Spec) Validate() error {
	if s.Model != "mlp" {
		return fmt.Errorf("unknown model %q: the available model is mlp", s.Model)
	}
	if s.Rows < 1 || s.Cols < 1 {
		return fmt.Errorf("model input %d×%d: must be at least 1×1", s.Rows, s.Cols)
	}
	if s.Classes < 2 {
		return fmt.Errorf("model with %d classes: need at least 2", s.Classes)
	}
	for _, h := range s.Hidden {
		if h < 1 {
			return fmt.Errorf("hidden layer width %d: must be at least 1", h)
		}
	}
	return nil
}

// ParseHidden parses hidden layer widths written as "64,32". An empty
// string or "none" means no hidden layer (a linear classifier).
func ParseHidden(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	hidden := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 1<<16 {
			return nil, fmt.Errorf("hidden sizes %q: %q is not a layer width (want positive integers separated by commas, like 64,32)", s, p)
		}
		hidden[i] = n
	}
	return hidden, nil
}

// ParamSpec names one parameter tensor and places it in the model's flat
// parameter vector.
type ParamSpec struct {
	Name   string // PyTorch state_dict key, e.g. "model.1.weight"
	Shape  []int  // PyTorch shape, e.g. [64 784] (out, in) for a linear weight
	Offset int    // first element in the flat parameter vector
	FanIn  int    // inputs of the layer, for initialisation
}

// Size returns the number of elements.
func (p ParamSpec) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Layer is one linear layer of an mlp, as indices into Params.
type linearLayer struct {
	In, Out int
	Weight  ParamSpec // [Out, In]
	Bias    ParamSpec // [Out]
	ReLU    bool      // followed by a ReLU (every layer but the last)
}

// layers lays out the mlp's linear layers and their parameters in PyTorch's
// order. The names follow the tutorial's module, whose nn.Sequential is
// Flatten, Linear, ReLU, Linear, ReLU, Linear: linear layer i is entry 2i+1.
func (s Spec) layers() []linearLayer {
	widths := append(append([]int{s.Inputs()}, s.Hidden...), s.Classes)
	var out []linearLayer
	off := 0
	for i := 0; i+1 < len(widths); i++ {
		in, o := widths[i], widths[i+1]
		idx := 2*i + 1
		w := ParamSpec{Name: fmt.Sprintf("model.%d.weight", idx), Shape: []int{o, in}, Offset: off, FanIn: in}
		off += o * in
		b := ParamSpec{Name: fmt.Sprintf("model.%d.bias", idx), Shape: []int{o}, Offset: off, FanIn: in}
		off += o
		out = append(out, linearLayer{In: in, Out: o, Weight: w, Bias: b, ReLU: i+2 < len(widths)})
	}
	return out
}

// Params lists the parameter tensors in PyTorch's state_dict order.
func (s Spec) Params() []ParamSpec {
	var ps []ParamSpec
	for _, l := range s.layers() {
		ps = append(ps, l.Weight, l.Bias)
	}
	return ps
}

// NumParams returns the total number of parameters.
func (s Spec) NumParams() int {
	n := 0
	for _, p := range s.Params() {
		n += p.Size()
	}
	return n
}

// FLOPsPerSample returns the floating-point operations of one training step
// per sample: forward, weight gradients and input gradients (2 per
// multiply-add; the first layer needs no input gradient).
func (s Spec) FLOPsPerSample() float64 {
	var macs float64
	for i, l := range s.layers() {
		m := float64(l.In * l.Out)
		macs += 2 * m // forward and weight gradient
		if i > 0 {
			macs += m // input gradient
		}
	}
	return 2 * macs
}
