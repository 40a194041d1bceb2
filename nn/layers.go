package nn

import "fmt"

// layerKind is what a layer computes.
type layerKind uint8

const (
	flattenLayer layerKind = iota // reshape to a vector: nothing to compute (NHWC is already flat)
	linearLayer                   // y = x·Wᵀ + b, optionally ReLU
	convLayer                     // y = conv(x, W) + b, optionally ReLU (Im2Col, then a GEMM)
	poolLayer                     // y = max-pool(x)
)

// shape is the size of one sample's activation, NHWC: a vector of n
// features is 1×1×n.
type shape struct{ H, W, C int }

func (s shape) len() int { return s.H * s.W * s.C }

// layer is one module of the network as PyTorch's nn.Sequential numbers
// them (module model.<Index>), with a following ReLU fused into it (the
// ReLU is module model.<Index+1>).
type layer struct {
	Kind    layerKind
	Index   int
	In, Out shape
	Weight  ParamSpec // linear: [out, in]; conv: [out, in, kh, kw]
	Bias    ParamSpec // [out]
	ReLU    bool
	Conv    ConvGeom // conv, with Batch 0 (set per call)
	Pool    PoolGeom // pool, with Batch 0 (set per call)

	// InputGrad says whether the backward pass computes the gradient with
	// respect to the layer's input: whether any layer before it has
	// parameters.
	InputGrad bool
	// ReLUInput says whether the layer's input comes out of a ReLU,
	// possibly through pooling and flattening: its zeros are then where the
	// ReLU was off, so masking the input gradient by the input is the
	// ReLU's backward pass. (Max-pooling keeps this: a pooled value is 0
	// exactly when the window's argmax, the only input its gradient
	// reaches, is.)
	ReLUInput bool
}

func (l layer) hasParams() bool { return l.Kind == linearLayer || l.Kind == convLayer }

// layerBuilder lays out layers one after another, numbering modules and
// placing parameters as PyTorch's state_dict orders them.
type layerBuilder struct {
	layers  []layer
	shape   shape // the next layer's input
	index   int   // the next module number
	offset  int   // the next parameter's offset
	params  bool  // some layer so far has parameters
	reluOut bool  // the last layer's output comes out of a ReLU
}

func (b *layerBuilder) add(l layer, out shape, modules int) {
	l.Index, l.In, l.Out = b.index, b.shape, out
	l.InputGrad, l.ReLUInput = b.params, b.reluOut
	if l.hasParams() {
		fanIn := l.Weight.Size() / l.Weight.Shape[0]
		l.Weight.Name, l.Weight.Offset, l.Weight.FanIn = fmt.Sprintf("model.%d.weight", b.index), b.offset, fanIn
		b.offset += l.Weight.Size()
		l.Bias = ParamSpec{Name: fmt.Sprintf("model.%d.bias", b.index), Shape: []int{out.C}, Offset: b.offset, FanIn: fanIn}
		b.offset += l.Bias.Size()
		b.params = true
	}
	switch l.Kind {
	case linearLayer, convLayer:
		b.reluOut = l.ReLU
	}
	b.layers = append(b.layers, l)
	b.shape, b.index = out, b.index+modules
}

func (b *layerBuilder) flatten() {
	b.add(layer{Kind: flattenLayer}, shape{1, 1, b.shape.len()}, 1)
}

func (b *layerBuilder) linear(out int, relu bool) {
	w := ParamSpec{Shape: []int{out, b.shape.len()}}
	if n := len(b.layers); n > 0 && b.layers[n-1].Kind == flattenLayer {
		// With one channel, or one pixel, NHWC and NCHW orders coincide.
		if s := b.layers[n-1].In; s.C > 1 && s.H*s.W > 1 {
			w.FlattenedHWC = []int{s.H, s.W, s.C}
		}
	}
	b.add(layer{Kind: linearLayer, Weight: w, ReLU: relu}, shape{1, 1, out}, 1+btoi(relu))
}

func (b *layerBuilder) conv(out, kernel int, relu bool) {
	in := b.shape
	g := ConvGeom{H: in.H, W: in.W, C: in.C, KH: kernel, KW: kernel, Stride: 1}
	w := ParamSpec{Shape: []int{out, in.C, kernel, kernel}}
	b.add(layer{Kind: convLayer, Weight: w, ReLU: relu, Conv: g}, shape{g.OutH(), g.OutW(), out}, 1+btoi(relu))
}

func (b *layerBuilder) pool(size int) {
	in := b.shape
	g := PoolGeom{H: in.H, W: in.W, C: in.C, Size: size, Stride: size}
	b.add(layer{Kind: poolLayer, Pool: g}, shape{g.OutH(), g.OutW(), in.C}, 1)
}

func btoi(v bool) int {
	if v {
		return 1
	}
	return 0
}

// layers lays out the network's modules and parameters in PyTorch's order.
// The mlp follows the tutorial's module, whose nn.Sequential is Flatten,
// Linear, ReLU, Linear, ReLU, Linear (linear layer i is entry 2i+1); the
// cnn is the Sequential CNN documents.
func (s Spec) layers() []layer {
	b := &layerBuilder{shape: shape{s.Rows, s.Cols, 1}}
	switch s.Model {
	case "cnn":
		b.conv(cnnChannels, cnnKernel, true)
		b.pool(cnnPool)
		b.conv(cnnChannel2, cnnKernel, true)
		b.pool(cnnPool)
		b.flatten()
		b.linear(cnnHidden, true)
		b.linear(s.Classes, false)
	default:
		b.flatten()
		for _, h := range s.Hidden {
			b.linear(h, true)
		}
		b.linear(s.Classes, false)
	}
	return b.layers
}

// TorchOrder returns a copy of the flat parameter vector params (laid out as
// Params says) with every tensor's elements in PyTorch's order, the order
// model files hold: only weights with FlattenedHWC differ.
func (s Spec) TorchOrder(params []float32) []float32 { return s.permute(params, true) }

// FromTorchOrder is the inverse of TorchOrder: it converts a flat vector of
// tensors in PyTorch's order to the model's layout.
func (s Spec) FromTorchOrder(torch []float32) []float32 { return s.permute(torch, false) }

func (s Spec) permute(src []float32, toTorch bool) []float32 {
	dst := append([]float32(nil), src...)
	for _, p := range s.Params() {
		if p.FlattenedHWC == nil || p.Offset+p.Size() > len(src) {
			continue
		}
		h, w, c := p.FlattenedHWC[0], p.FlattenedHWC[1], p.FlattenedHWC[2]
		in := h * w * c
		for o := 0; o < p.Shape[0]; o++ {
			row := p.Offset + o*in
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					for ch := 0; ch < c; ch++ {
						ours, torch := row+(y*w+x)*c+ch, row+(ch*h+y)*w+x
						if toTorch {
							dst[torch] = src[ours]
						} else {
							dst[ours] = src[torch]
						}
					}
				}
			}
		}
	}
	return dst
}
