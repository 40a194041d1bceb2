package gpu

import (
	"fmt"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// TestOtherClassCountsMatchReference trains models of data sets that are not
// ten digits of 28×28 (3, 26 and 47 classes; 20×20 and 32×32 images) for a
// few steps through nn.Trainer on the kernels and on the naive reference,
// and compares the losses, the parameters and the test predictions: the
// loss kernel, the last layer and the evaluation for any class count.
func TestOtherClassCountsMatchReference(t *testing.T) {
	for _, c := range []struct {
		model             string
		rows, cols, class int
	}{
		{"mlp", 32, 32, 47},
		{"mlp", 20, 20, 3},
		{"cnn", 20, 20, 26},
	} {
		t.Run(fmt.Sprintf("%s/%dx%d/%d", c.model, c.rows, c.cols, c.class), func(t *testing.T) {
			if c.model == "cnn" && testing.Short() {
				t.Skip("the cnn on the emulator takes a while: skipped with -short")
			}
			const steps, batch = 4, 12
			train := mnisttest.SyntheticClassesDataset(steps*batch-2, c.rows, c.cols, c.class, 3)
			test := mnisttest.SyntheticClassesDataset(c.class+5, c.rows, c.cols, c.class, 4)
			spec := nn.MLP(c.rows, c.cols, []int{32}, c.class)
			if c.model == "cnn" {
				spec = nn.CNN(c.rows, c.cols, c.class)
			}
			cfg := nn.TrainConfig{
				Epochs: 1, Batch: batch, Seed: 2, Shuffle: true, Norm: nn.MNISTNormalization, EvalBatch: 7,
				Schedule:  nn.Schedule{Name: "constant", Base: 0.05},
				Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9},
			}
			g, _ := openEmu(t)
			var losses, params [2][]float32
			var preds [2][]int32
			for i, be := range []nn.Backend{g, naive.New()} {
				tr, err := nn.NewTrainer(be, spec, cfg, train, test)
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				for range steps {
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
			closeTo(t, "losses", losses[0], losses[1], 1e-4, 1e-3)
			closeTo(t, "params", params[0], params[1], 1e-4, 1e-3)
			for k := range preds[0] {
				if preds[0][k] != preds[1][k] {
					t.Errorf("test sample %d: predicted %d, the reference %d", k, preds[0][k], preds[1][k])
				}
				if preds[0][k] < 0 || int(preds[0][k]) >= c.class {
					t.Errorf("test sample %d: predicted class %d of %d", k, preds[0][k], c.class)
				}
			}
		})
	}
}
