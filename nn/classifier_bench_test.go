package nn_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/nn"
)

// BenchmarkClassifierLatency times one image through
// Classifier.AppendProbabilities, the path of `mnist predict` and `mnist
// serve`, for the tutorial's MLP and the cnn (weights from InitParams,
// random pixels), on the Go loops ("go") and on the cpu backend with one
// thread ("cpu", as the commands run it). ns/op is the single-image
// latency in wall time; cpu-µs/op the calling thread's CPU time (the
// goroutine is locked to it, and both paths compute on it alone), which a
// busy machine inflates far less; allocs/op what a call allocates.
func BenchmarkClassifierLatency(b *testing.B) {
	for _, spec := range []nn.Spec{nn.MLP(28, 28, nn.DefaultHidden, 10), nn.CNN(28, 28, 10)} {
		for _, path := range classifierPaths {
			b.Run(spec.Model+"/"+path.name, func(b *testing.B) {
				c, err := nn.NewClassifier(nn.InitParams(spec, 1), nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}, path.opts...)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				pixels := randomPixels(rand.New(rand.NewPCG(20, 5)), spec.Inputs())
				probs := make([]float64, 0, spec.Classes)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				b.ReportAllocs()
				start := threadClock()
				for b.Loop() {
					if probs, err = c.AppendProbabilities(probs[:0], pixels); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(threadClock()-start)/1e3/float64(b.N), "cpu-µs/op")
			})
		}
	}
}

// classifierPaths are the ways a Classifier runs its layers.
var classifierPaths = []struct {
	name string
	opts []nn.ClassifierOption
}{
	{"go", nil},
	{"cpu", []nn.ClassifierOption{nn.WithBackend(func() (nn.Backend, error) { return cpu.New(cpu.WithThreads(1)), nil })}},
}

func randomPixels(r *rand.Rand, n int) []uint8 {
	p := make([]uint8, n)
	for i := range p {
		p[i] = uint8(r.IntN(256))
	}
	return p
}
