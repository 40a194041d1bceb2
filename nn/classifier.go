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
	layers []linearLayer
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
	for _, l := range c.layers {
		w := c.params[l.Weight.Offset : l.Weight.Offset+l.Weight.Size()] // (Out, In)
		b := c.params[l.Bias.Offset : l.Bias.Offset+l.Bias.Size()]       // (Out)
		y := make([]float32, l.Out)
		for o := range y {
			row := w[o*l.In : (o+1)*l.In]
			sum := b[o]
			for i, v := range x {
				sum += row[i] * v
			}
			if l.ReLU && sum < 0 {
				sum = 0
			}
			y[o] = sum
		}
		x = y
	}
	return softmax(x), nil
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
	Class       int     `json:"digit"`
	Probability float64 `json:"probability"`
}

// Top returns the k most probable classes, most probable first.
func Top(probs []float64, k int) []Ranked {
	r := make([]Ranked, len(probs))
	for i, p := range probs {
		r[i] = Ranked{i, p}
	}
	sort.SliceStable(r, func(i, j int) bool { return r[i].Probability > r[j].Probability })
	return r[:min(k, len(r))]
}
