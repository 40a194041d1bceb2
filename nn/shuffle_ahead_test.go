package nn_test

import (
	"context"
	"slices"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// uploadSpy records what the trainer uploads of the training set's size:
// the visiting orders (int32) and the augmentation maps (float32).
type uploadSpy struct {
	nn.Backend
	n      int
	orders [][]int32
	maps   [][]float32
}

func (s *uploadSpy) Upload(dst nn.Buffer, src any) error {
	switch v := src.(type) {
	case []int32:
		if len(v) == s.n {
			s.orders = append(s.orders, slices.Clone(v))
		}
	case []float32:
		if len(v) == s.n*nn.AffineParams {
			s.maps = append(s.maps, slices.Clone(v))
		}
	}
	return s.Backend.Upload(dst, src)
}

// TestEpochOrdersMadeAhead checks that making the next epoch's order and
// maps during the epoch before (Trainer.shuffleAhead) uploads exactly what
// each epoch's seed gives, in Run and in TrainEpoch past the configured
// epochs, stepping op by op and replaying recordings.
func TestEpochOrdersMadeAhead(t *testing.T) {
	for _, c := range []struct {
		name            string
		replay, augment bool
	}{{"steps", false, false}, {"replayed", true, false}, {"augmented", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			train, test := data(t)
			spy := &uploadSpy{Backend: cpuBackend(t), n: train.Len()}
			var b nn.Backend = spy
			if c.replay {
				b = &fakeRecorder{Backend: spy}
			}
			cfg := config("sgd", 3)
			if c.augment {
				cfg.Augment = nn.DefaultAugmentation
			}
			tr, err := nn.NewTrainer(b, spec(), cfg, train, test)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(tr.Close)
			spy.orders, spy.maps = nil, nil // the data set's own uploads
			if err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := tr.TrainEpoch(context.Background()); err != nil { // a fourth, past Epochs
				t.Fatal(err)
			}
			if len(spy.orders) != 4 {
				t.Fatalf("%d orders uploaded in 4 epochs, want 4", len(spy.orders))
			}
			want := make([]int32, train.Len())
			for e, got := range spy.orders {
				mnist.Permutation(want, cfg.Seed, e)
				if !slices.Equal(got, want) {
					t.Errorf("epoch %d: the uploaded order is not the epoch's permutation", e+1)
				}
			}
			if !c.augment {
				return
			}
			if len(spy.maps) != 4 {
				t.Fatalf("%d maps uploaded in 4 epochs, want 4", len(spy.maps))
			}
			wantMaps := make([]float32, train.Len()*nn.AffineParams)
			for e, got := range spy.maps {
				cfg.Augment.Maps(wantMaps, train.Rows, train.Cols, cfg.Seed, e)
				if !slices.Equal(got, wantMaps) {
					t.Errorf("epoch %d: the uploaded maps are not the epoch's", e+1)
				}
			}
		})
	}
}
