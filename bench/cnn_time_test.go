package bench

import (
	"context"
	"errors"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// targetAccuracy is the test accuracy BenchmarkTimeToAccuracy trains to.
const targetAccuracy = 0.99

// BenchmarkTimeToAccuracy measures the GPU figure: the wall time
// from the start of training (data resident on the device, weights
// initialised) to the end of the first epoch whose test evaluation reaches
// 99.0%, training the cnn with its default recipe (nn.CNNRecipe), the
// evaluations included. ns/op is that time; it also reports the epochs it
// took and the accuracy reached, and fails if the recipe's epochs end below
// the target. The cpu backend skips it: there, the recipe's run is `mnist
// train --model cnn` (minutes; the README has its figures).
//
//	go test ./bench -run '^$' -bench 'TimeToAccuracy/cuda' -benchtime 3x
func BenchmarkTimeToAccuracy(b *testing.B) {
	train, test := realData(b)
	cfg := nn.CNNRecipe()
	spec := nn.CNN(train.Rows, train.Cols, 10)
	for _, name := range nn.Backends() {
		b.Run(name+"/cnn", func(b *testing.B) {
			if name == "cpu" {
				b.Skip("cpu: the recipe takes minutes; run mnist train --model cnn (README, A CNN for 99%+)")
			}
			be, _, err := nn.Open(name)
			if err != nil {
				b.Skipf("%s cannot run here: %v", name, err)
			}
			defer be.Close()
			var epochs, acc float64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				t, err := nn.NewTrainer(be, spec, cfg, train, test)
				if err != nil {
					b.Fatal(err)
				}
				if err := be.Sync(); err != nil {
					b.Fatal(err)
				}
				t.Observer = stopAt{targetAccuracy}
				b.StartTimer()
				err = t.Run(context.Background())
				b.StopTimer()
				reached := errors.Is(err, errReached)
				if err != nil && !reached {
					b.Fatal(err)
				}
				acc = t.History[len(t.History)-1].Test.Accuracy
				epochs += float64(len(t.History))
				t.Close()
				if !reached {
					b.Errorf("run %d: test accuracy %.4f after the recipe's %d epochs, below %.3f", i+1, acc, cfg.Epochs, targetAccuracy)
				}
			}
			b.ReportMetric(epochs/float64(b.N), "epochs")
			b.ReportMetric(100*acc, "test-acc-%")
		})
	}
}

// errReached stops a run (stopAt) at the target accuracy.
var errReached = errors.New("target accuracy reached")

// stopAt is an nn.Observer that stops the run after the first epoch whose
// test accuracy reaches accuracy.
type stopAt struct{ accuracy float64 }

func (stopAt) Losses(epoch, first, global int, losses []float32) {}

func (s stopAt) EpochEnd(r nn.EpochResult) error {
	if r.Test.Accuracy >= s.accuracy {
		return errReached
	}
	return nil
}
