package nn

import (
	"fmt"
	"math"
	"sort"
)

// Classifier runs a trained model on the host, one sample at a time. It is
// safe for concurrent use (the parameters are read-only), which is what a
// server answering single images needs; training and bulk evaluation go
// through a Backend instead.
type Classifier struct {
	Info   ModelInfo
	params []float32
	layers []layer
	convW  [][]float32  // per layer: a conv layer's weights as [C, KH, KW, Out], else nil
	table  [256]float32 // pixel → normalised input
}

// NewClassifier wraps the parameters of info.Spec.
func NewClassifier(params []float32, info ModelInfo) (*Classifier, error) {
	if err := info.Spec.Validate(); err != nil {
		return nil, err
	}
	if len(params) != info.Spec.NumParams() {
		return nil, fmt.Errorf("%d parameters for a %s, which has %d", len(params), info.Spec, info.Spec.NumParams())
	}
	c := &Classifier{Info: info, params: params, layers: info.Spec.layers()}
	c.convW = make([][]float32, len(c.layers))
	for i, l := range c.layers {
		if l.Kind != convLayer {
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
	return c, nil
}

// LoadClassifier reads a model file (see LoadModel) into a Classifier.
func LoadClassifier(path string) (*Classifier, error) {
	params, info, err := LoadModel(path)
	if err != nil {
		return nil, err
	}
	return NewClassifier(params, info)
}

// Probabilities returns the softmax of the model's logits for one image of
// Rows×Cols uint8 pixels (ink bright, as in MNIST).
func (c *Classifier) Probabilities(pixels []uint8) ([]float64, error) {
	spec := c.Info.Spec
	if len(pixels) != spec.Inputs() {
		return nil, fmt.Errorf("image has %d pixels, the model takes %d×%d = %d", len(pixels), spec.Rows, spec.Cols, spec.Inputs())
	}
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = c.table[p]
	}
	for i, l := range c.layers {
		switch l.Kind {
		case linearLayer:
			x = c.linear(l, x)
		case convLayer:
			x = c.conv(l, c.convW[i], x)
		case poolLayer:
			x = maxPool(l, x)
		}
	}
	return softmax(x), nil
}

// linear returns x·Wᵀ + b for one sample, then the ReLU if the layer has one.
func (c *Classifier) linear(l layer, x []float32) []float32 {
	in := l.In.len()
	w := c.params[l.Weight.Offset : l.Weight.Offset+l.Weight.Size()] // (Out, In)
	b := c.params[l.Bias.Offset : l.Bias.Offset+l.Bias.Size()]       // (Out)
	y := make([]float32, l.Out.C)
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

// conv returns the convolution of one sample x (H×W×C, NHWC) with the
// layer's weights [Out, C, KH, KW], given transposed as wt [C, KH, KW, Out],
// plus bias, then the ReLU if the layer has one:
// y[oy, ox, o] = b[o] + Σ_c,i,j w[o, c, i, j]·x[oy·S−P+i, ox·S−P+j, c].
// Each output pixel's Out sums run side by side, each adding its terms in
// the order of the formula (c, then i, then j; taps in the padding
// skipped), so the result is bitwise convReference's; the inner loop runs
// over contiguous weights and sums.
func (c *Classifier) conv(l layer, wt, x []float32) []float32 {
	g := l.Conv
	b := c.params[l.Bias.Offset : l.Bias.Offset+l.Bias.Size()]
	oh, ow, out := g.OutH(), g.OutW(), l.Out.C
	y := make([]float32, oh*ow*out)
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

// maxPool returns the maxima of the Size×Size windows of one sample x (NHWC).
func maxPool(l layer, x []float32) []float32 {
	g := l.Pool
	oh, ow := g.OutH(), g.OutW()
	y := make([]float32, oh*ow*g.C)
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

func softmax(logits []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	p := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - m)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return p
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
