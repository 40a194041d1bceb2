package nn

import (
	"math"
	"math/rand/v2"
	"testing"
)

// convReference is the classifier's convolution written as its formula,
// one output at a time: what Classifier.conv must equal bitwise.
func convReference(l layer, w, b, x []float32) []float32 {
	g := l.Conv
	oh, ow, out := g.OutH(), g.OutW(), l.Out.C
	y := make([]float32, oh*ow*out)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			for o := 0; o < out; o++ {
				sum := b[o]
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
							sum += w[((o*g.C+ch)*g.KH+i)*g.KW+j] * x[(iy*g.W+ix)*g.C+ch]
						}
					}
				}
				y[(oy*ow+ox)*out+o] = activate(sum, l.ReLU)
			}
		}
	}
	return y
}

// TestClassifierConvMatchesReference checks the classifier's conv layers
// against convReference, bitwise, on the cnn's activations for random
// images.
func TestClassifierConvMatchesReference(t *testing.T) {
	spec := CNN(28, 28, 10)
	c, err := NewClassifier(InitParams(spec, 3), ModelInfo{Spec: spec, Norm: MNISTNormalization})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(20, 6))
	for range 3 {
		x := make([]float32, spec.Inputs())
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		convs := 0
		for i, l := range c.layers {
			switch l.Kind {
			case linearLayer:
				x = c.linear(l, make([]float32, l.Out.len()), x)
			case convLayer:
				w := c.params[l.Weight.Offset : l.Weight.Offset+l.Weight.Size()]
				b := c.params[l.Bias.Offset : l.Bias.Offset+l.Bias.Size()]
				want := convReference(l, w, b, x)
				x = c.conv(l, c.convW[i], make([]float32, l.Out.len()), x)
				for k := range want {
					if math.Float32bits(x[k]) != math.Float32bits(want[k]) {
						t.Fatalf("conv layer %d: y[%d] = %g, want %g", i, k, x[k], want[k])
					}
				}
				convs++
			case poolLayer:
				x = maxPool(l, make([]float32, l.Out.len()), x)
			}
		}
		if convs != 2 {
			t.Fatalf("%d conv layers checked, want 2", convs)
		}
	}
}
