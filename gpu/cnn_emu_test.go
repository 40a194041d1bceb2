package gpu

import (
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// TestCNNTrainingMatchesReference trains nn's cnn (on 20×20 images, so the
// emulator keeps up) for a few steps through nn.Trainer, with augmentation,
// on this backend and on the naive reference, and compares the step losses,
// the parameters and the test predictions: every convolution op, the
// affine gather and the model's wiring of them, on the kernels. The
// backend runs twice: with the GEMMs planGemm picks (at this size none is
// split across blocks) and with every GEMM's K split in 3 (split-K, what
// the full-size cnn's weight gradients use).
func TestCNNTrainingMatchesReference(t *testing.T) {
	if testing.Short() {
		t.Skip("the cnn on the emulator takes a while: skipped with -short")
	}
	const steps = 4
	train := mnisttest.SyntheticDataset(steps*6-2, 20, 20, 3) // the last batch is short
	test := mnisttest.SyntheticDataset(10, 20, 20, 4)
	spec := nn.CNN(20, 20, 10)
	cfg := nn.TrainConfig{
		Epochs: 1, Batch: 6, Seed: 2, Shuffle: true, Norm: nn.MNISTNormalization, EvalBatch: 5,
		Schedule:  nn.Schedule{Name: "constant", Base: 0.05},
		Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9},
		Augment:   nn.DefaultAugmentation,
	}
	g, _ := openEmu(t)
	split, _ := openEmu(t)
	split.gemmSplits = 3
	var losses, params [3][]float32
	var preds [3][]int32
	for i, be := range []nn.Backend{naive.New(), g, split} {
		tr, err := nn.NewTrainer(be, spec, cfg, train, test)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		for s := 0; s < steps; s++ {
			if err := tr.Step(); err != nil {
				t.Fatal(err)
			}
		}
		if losses[i], err = tr.EpochLosses(); err != nil {
			t.Fatal(err)
		}
		if params[i], err = tr.Model.ParamsHost(); err != nil {
			t.Fatal(err)
		}
		ev, err := tr.Evaluate()
		if err != nil {
			t.Fatal(err)
		}
		preds[i] = ev.Predictions
	}
	t.Logf("losses: %v", losses[1])
	for i, name := range []string{"", "planned", "split-K"} {
		if i == 0 {
			continue
		}
		closeTo(t, name+" losses", losses[i], losses[0], 1e-4, 1e-3)
		closeTo(t, name+" params", params[i], params[0], 1e-4, 1e-3)
		for k := range preds[0] {
			if preds[i][k] != preds[0][k] {
				t.Errorf("%s: test sample %d: predicted %d, the reference %d", name, k, preds[i][k], preds[0][k])
			}
		}
	}
	if losses[1][steps-1] == losses[1][0] {
		t.Errorf("the loss did not change: %v", losses[1])
	}
}
