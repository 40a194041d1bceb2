package nn

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkClassifierLatency times one image through Classifier.Probabilities,
// the path of `mnist predict` and `mnist serve`, for the tutorial's MLP and
// the cnn (weights from InitParams, random pixels): ns/op is the
// single-image latency, allocs/op what each call allocates.
func BenchmarkClassifierLatency(b *testing.B) {
	for _, spec := range []Spec{MLP(28, 28, DefaultHidden, 10), CNN(28, 28, 10)} {
		b.Run(spec.Model, func(b *testing.B) {
			c, err := NewClassifier(InitParams(spec, 1), ModelInfo{Spec: spec, Norm: MNISTNormalization})
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(20, 5))
			pixels := make([]uint8, spec.Inputs())
			for i := range pixels {
				pixels[i] = uint8(r.IntN(256))
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Probabilities(pixels); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
