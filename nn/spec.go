package nn

import (
	"fmt"
	"strconv"
	"strings"
)

// Spec describes a network architecture: enough to build the model, to name
// its parameters as PyTorch does and to refuse a checkpoint of another shape.
//
// Two architectures exist. "mlp" is the tutorial's multi-layer perceptron,
// nn.Sequential(Flatten, Linear, ReLU, …, Linear) with the Hidden widths.
// "cnn" is a fixed convolutional network (see CNN); Hidden is empty.
type Spec struct {
	Model   string // "mlp" or "cnn"
	Rows    int    // input image height
	Cols    int    // input image width
	Hidden  []int  // hidden layer widths of an mlp, input side first
	Classes int    // outputs
}

// Limits of a Spec, checked by Validate before anything is allocated, so
// that a model file or a flag cannot ask for more memory than a machine
// has: the weights of the largest model are 128 MiB (its training needs
// three to four times that, for gradients and optimiser state).
const (
	MaxSide    = 1024    // pixels on a side of the input image
	MaxClasses = 256     // outputs
	MaxHidden  = 32      // hidden layers of an mlp
	MaxWidth   = 1 << 16 // units in a hidden layer
	MaxParams  = 1 << 25 // parameters in all: 33,554,432
)

// DefaultHidden is the PyTorch tutorial's MLP: 784-64-32-10.
var DefaultHidden = []int{64, 32}

// Models lists the architectures a Spec may name.
var Models = []string{"mlp", "cnn"}

// MLP returns the spec of a multi-layer perceptron on rows×cols images.
func MLP(rows, cols int, hidden []int, classes int) Spec {
	return Spec{Model: "mlp", Rows: rows, Cols: cols, Hidden: append([]int(nil), hidden...), Classes: classes}
}

// The CNN's fixed architecture (see CNN).
const (
	cnnKernel   = 5   // both convolutions are 5×5, stride 1, no padding
	cnnPool     = 2   // both max-pools are 2×2, stride 2
	cnnChannels = 32  // the first convolution's output channels
	cnnChannel2 = 64  // the second's
	cnnHidden   = 128 // the hidden linear layer's width
)

// CNN returns the spec of the convolutional network on rows×cols images
// (one channel), PyTorch's
//
//	nn.Sequential(Conv2d(1, 32, 5), ReLU(), MaxPool2d(2), Conv2d(32, 64, 5), ReLU(), MaxPool2d(2),
//	              Flatten(), Linear(64·h·w, 128), ReLU(), Linear(128, classes))
//
// where h×w is what the convolutions and pools leave of the image: 4×4 of
// MNIST's 28×28, so the first linear layer is 1024→128.
func CNN(rows, cols, classes int) Spec {
	return Spec{Model: "cnn", Rows: rows, Cols: cols, Classes: classes}
}

// EvalBatch returns the batch size evaluation uses by default: 1000 for
// the mlp, 256 for the cnn, whose activations and column matrices take
// about 0.4 MB per sample.
func (s Spec) EvalBatch() int {
	if s.Model == "cnn" {
		return 256
	}
	return 1000
}

// Inputs returns the number of input features (pixels).
func (s Spec) Inputs() int { return s.Rows * s.Cols }

// String names the architecture compactly: "mlp-64-32" (input and output
// sizes are those of the data set), or "cnn".
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
	if s.Model != "mlp" && s.Model != "cnn" {
		return fmt.Errorf("unknown model %q: the available models are %s", s.Model, strings.Join(Models, " and "))
	}
	if s.Rows < 1 || s.Cols < 1 || s.Rows > MaxSide || s.Cols > MaxSide {
		return fmt.Errorf("model input %d×%d: must be 1 to %d pixels a side", s.Rows, s.Cols, MaxSide)
	}
	if s.Classes < 2 || s.Classes > MaxClasses {
		return fmt.Errorf("model with %d classes: need 2 to %d", s.Classes, MaxClasses)
	}
	if len(s.Hidden) > MaxHidden {
		return fmt.Errorf("%d hidden layers: at most %d (--hidden)", len(s.Hidden), MaxHidden)
	}
	for _, h := range s.Hidden {
		if h < 1 || h > MaxWidth {
			return fmt.Errorf("hidden layer width %d: must be 1 to %d (--hidden)", h, MaxWidth)
		}
	}
	// Every factor is bounded above, so NumParams cannot overflow.
	if n := s.NumParams(); n > MaxParams {
		fix := "narrower or fewer hidden layers (--hidden)"
		if s.Model == "cnn" {
			fix = "smaller images"
		}
		return fmt.Errorf("a %s on %d×%d images has %d parameters, more than the limit of %d (%d MiB of float32 weights): use %s",
			s, s.Rows, s.Cols, n, MaxParams, MaxParams*4>>20, fix)
	}
	if s.Model == "cnn" {
		if len(s.Hidden) > 0 {
			return fmt.Errorf("the cnn has a fixed architecture: hidden widths %v are for the mlp", s.Hidden)
		}
		for _, l := range s.layers() {
			var err error
			switch l.Kind {
			case convLayer:
				err = l.Conv.Validate()
			case poolLayer:
				err = l.Pool.Validate()
			}
			if err != nil {
				return fmt.Errorf("the cnn cannot take %d×%d images (at least 16×16): %v", s.Rows, s.Cols, err)
			}
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

	// FlattenedHWC is set for the weight of a linear layer whose inputs are
	// an activation of height×width×channels flattened: the flat vector
	// holds its columns in our NHWC order (h, w, c), PyTorch's tensor in
	// its NCHW order (c, h, w). Files hold PyTorch's order (TorchOrder and
	// FromTorchOrder convert).
	FlattenedHWC []int
}

// Size returns the number of elements.
func (p ParamSpec) Size() int {
	n := 1
	for _, d := range p.Shape {
		n *= d
	}
	return n
}

// Params lists the parameter tensors in PyTorch's state_dict order.
func (s Spec) Params() []ParamSpec {
	var ps []ParamSpec
	for _, l := range s.layers() {
		if l.hasParams() {
			ps = append(ps, l.Weight, l.Bias)
		}
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
// per sample: the GEMMs of the forward pass, of the weight gradients and of
// the input gradients (2 per multiply-add; the first layer with parameters
// needs no input gradient). Im2Col, pooling and elementwise work is not
// counted.
func (s Spec) FLOPsPerSample() float64 {
	var macs float64
	for _, l := range s.layers() {
		if !l.hasParams() {
			continue
		}
		m := float64(l.Weight.Size())
		if l.Kind == convLayer {
			m *= float64(l.Conv.OutH() * l.Conv.OutW())
		}
		macs += 2 * m // forward and weight gradient
		if l.InputGrad {
			macs += m // input gradient
		}
	}
	return 2 * macs
}

// TrainingBytes estimates the memory a training run of the model needs with
// batches of batch samples, data aside: the parameters, their gradients and
// up to two optimiser buffers (Adam), and per sample of a batch every
// layer's output, its gradient and a mask, with an im2col buffer of
// kernel-area times the output for a convolution. An estimate, to refuse
// before allocating a run that cannot fit, not an exact figure.
func (s Spec) TrainingBytes(batch int) int64 {
	const f32 = 4
	perSample := int64(s.Inputs())
	for _, l := range s.layers() {
		out := int64(l.Out.len())
		perSample += 3 * out
		if l.Kind == convLayer {
			perSample += int64(l.Conv.KH*l.Conv.KW*l.In.C) * int64(l.Out.H*l.Out.W)
		}
	}
	return f32 * (4*int64(s.NumParams()) + int64(batch)*perSample)
}
