package nn_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// classifierSpecs are the models the classifier tests run: the tutorial's
// MLP, a deeper one with odd sizes, the cnn, and a cnn on other sizes.
var classifierSpecs = []nn.Spec{
	nn.MLP(28, 28, nn.DefaultHidden, 10),
	nn.MLP(19, 23, []int{37, 5, 70}, 3),
	nn.CNN(28, 28, 10),
	nn.CNN(21, 17, 47),
}

// TestClassifierBackendMatchesGo checks that a Classifier on the cpu
// backend (its SIMD kernels, when this CPU has them) gives the Go loops'
// probabilities within float rounding, for random parameters and images,
// and for an image of zeros (MNIST's background; the GEMM may skip zero
// products).
func TestClassifierBackendMatchesGo(t *testing.T) {
	for _, spec := range classifierSpecs {
		params := nn.InitParams(spec, 7)
		info := nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}
		ref, err := nn.NewClassifier(params, info)
		if err != nil {
			t.Fatal(err)
		}
		fast, err := nn.NewClassifier(params, info, classifierPaths[1].opts...)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(20, 7))
		images := [][]uint8{make([]uint8, spec.Inputs())}
		for range 4 {
			images = append(images, randomPixels(r, spec.Inputs()))
		}
		for k, img := range images {
			want, err := ref.Probabilities(img)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast.Probabilities(img)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != spec.Classes {
				t.Fatalf("%s image %d: %d probabilities, want %d", spec, k, len(got), spec.Classes)
			}
			for i := range want {
				if d := math.Abs(got[i] - want[i]); !(d <= 1e-5+1e-4*want[i]) {
					t.Errorf("%s image %d: probability %d = %.9f on the cpu backend, %.9f in Go", spec, k, i, got[i], want[i])
				}
			}
		}
		fast.Close()
	}
}

// TestClassifierConcurrent runs one Classifier per path from several
// goroutines at once (each call takes a runner of its own) and checks
// every answer is the one a lone call gives, bitwise.
func TestClassifierConcurrent(t *testing.T) {
	spec := nn.CNN(28, 28, 10)
	for _, path := range classifierPaths {
		c, err := nn.NewClassifier(nn.InitParams(spec, 2), nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}, path.opts...)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(20, 8))
		var images [][]uint8
		var want [][]float64
		for range 4 {
			img := randomPixels(r, spec.Inputs())
			p, err := c.Probabilities(img)
			if err != nil {
				t.Fatal(err)
			}
			images, want = append(images, img), append(want, p)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var probs []float64
				for k := range 6 {
					i := (g + k) % len(images)
					var err error
					if probs, err = c.AppendProbabilities(probs[:0], images[i]); err != nil {
						errs <- err
						return
					}
					for j := range probs {
						if probs[j] != want[i][j] {
							errs <- errors.New(path.name + ": a concurrent call's probabilities differ from a lone call's")
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		c.Close()
	}
}

// TestClassifierAllocatesNothing checks that AppendProbabilities with room
// in dst allocates nothing per call, on both paths, for the MLP and the cnn.
func TestClassifierAllocatesNothing(t *testing.T) {
	for _, spec := range []nn.Spec{nn.MLP(28, 28, nn.DefaultHidden, 10), nn.CNN(28, 28, 10)} {
		for _, path := range classifierPaths {
			c, err := nn.NewClassifier(nn.InitParams(spec, 1), nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}, path.opts...)
			if err != nil {
				t.Fatal(err)
			}
			pixels := randomPixels(rand.New(rand.NewPCG(20, 9)), spec.Inputs())
			probs := make([]float64, 0, spec.Classes)
			allocs := testing.AllocsPerRun(20, func() {
				if probs, err = c.AppendProbabilities(probs[:0], pixels); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%s on %s: %.1f allocations per image, want 0", spec, path.name, allocs)
			}
			c.Close()
		}
	}
}

// TestClassifierBackendErrors checks that a backend that cannot open is
// reported by NewClassifier, naming the backend and the cause, and that a
// wrong image size is reported before any backend work.
func TestClassifierBackendErrors(t *testing.T) {
	spec := nn.MLP(28, 28, nn.DefaultHidden, 10)
	info := nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}
	broken := nn.WithBackend(func() (nn.Backend, error) { return nil, errors.New("no device here") })
	if _, err := nn.NewClassifier(nn.InitParams(spec, 1), info, broken); err == nil || !strings.Contains(err.Error(), "no device here") || !strings.Contains(err.Error(), "backend") {
		t.Errorf("NewClassifier with a backend that cannot open: error %v, want one naming the backend and its cause", err)
	}
	c, err := nn.NewClassifier(nn.InitParams(spec, 1), info, classifierPaths[1].opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Probabilities(make([]uint8, 100)); err == nil || !strings.Contains(err.Error(), "100 pixels") {
		t.Errorf("100-pixel image: error %v, want one naming its size", err)
	}
}
