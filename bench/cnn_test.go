package bench

import (
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// TestCNNEntriesAgree is TestEntriesAgree for the cnn: every entry (the
// cpu backend, gorgonia's Conv2d graph, a GPU where there is one) trains it
// for a few steps from the same weights on the same batches, and its
// losses and parameters must match the naive backend's. A short data set
// makes the steps cross an epoch and use a short last batch.
func TestCNNEntriesAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("the cnn on the naive backend takes a while: skipped with -short")
	}
	train := mnisttest.SyntheticDataset(2*16+8, 28, 28, 7)
	test := mnisttest.SyntheticDataset(50, 28, 28, 8)
	test.Name = "synthetic test"
	cfg := CNNConfig(28, 28)
	cfg.Batch = 16
	cfg.LR = 0.05
	cfg.Norm = nn.MNISTNormalization
	entriesAgree(t, cfg, train, test, 5, 0.1, func(t *testing.T, r, ref Runner, _ []float32) {
		acc, err := r.TestAccuracy()
		if err != nil {
			t.Fatal(err)
		}
		wantAcc, err := ref.TestAccuracy()
		if err != nil {
			t.Fatal(err)
		}
		if acc != wantAcc {
			t.Errorf("test accuracy %.4f, naive %.4f", acc, wantAcc)
		}
	})
}

func TestCNNGEMMShapes(t *testing.T) {
	spec := nn.CNN(28, 28, 10)
	got := ModelGEMMShapes(spec, 64)
	want := []string{
		"36864x32x25,NT", "32x25x36864,TN", // conv 1: 64·24·24 positions, 1·5·5 taps (no input gradient)
		"4096x64x800,NT", "64x800x4096,TN", "4096x800x64,NN", // conv 2: 64·8·8 positions, 32·5·5 taps
		"64x128x1024,NT", "128x1024x64,TN", "64x1024x128,NN",
		"64x10x128,NT", "10x128x64,TN", "64x128x10,NN",
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	var flops float64
	for i, s := range got {
		if s.String() != want[i] {
			t.Errorf("shape %d: %s, want %s", i, s, want[i])
		}
		flops += s.FLOPs()
	}
	if flops != 64*spec.FLOPsPerSample() {
		t.Errorf("shapes add up to %g FLOPs, the spec says %g per step", flops, 64*spec.FLOPsPerSample())
	}
}
