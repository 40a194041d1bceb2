package bench

import (
	"context"
	"fmt"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// backendRunner trains on an nn.Backend through nn.Trainer, so what is timed
// is exactly what `mnist train` runs (a recorded epoch included, where the
// backend can replay one), minus the per-epoch evaluation.
type backendRunner struct {
	name   string
	b      nn.Backend
	t      *nn.Trainer
	start  *nn.Checkpoint // the trainer as NewBackendRunner made it: Reset restores it
	closed bool
}

// NewBackendRunner makes a Runner that trains cfg on backend b, under name.
// It takes ownership of b: Close closes it, and so does a failure here.
func NewBackendRunner(name string, b nn.Backend, cfg Config, train, test *mnist.Dataset) (Runner, error) {
	if err := cfg.Validate(train); err != nil {
		b.Close()
		return nil, err
	}
	if test.Pixels() != train.Pixels() {
		b.Close()
		return nil, fmt.Errorf("%s holds %d×%d images but %s holds %d×%d", test.Name, test.Rows, test.Cols, train.Name, train.Rows, train.Cols)
	}
	t, err := nn.NewTrainer(b, cfg.Spec, nn.TrainConfig{
		Epochs:    1,
		Batch:     cfg.Batch,
		Schedule:  nn.Schedule{Name: "constant", Base: cfg.LR},
		Optimizer: nn.OptimizerConfig{Name: "sgd"},
		Seed:      cfg.Seed,
		Shuffle:   true,
		Norm:      cfg.Norm,
	}, train, test)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r := &backendRunner{name: name, b: b, t: t}
	if r.start, err = t.Capture(nn.ModelInfo{Spec: cfg.Spec, Norm: cfg.Norm}); err != nil {
		r.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := r.Sync(); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

func (r *backendRunner) Name() string   { return r.name }
func (r *backendRunner) Device() string { return r.b.Device() }

// Step queues one training step.
func (r *backendRunner) Step() error {
	if err := r.t.Step(); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

// Epoch runs the rest of the epoch in progress (or the next one) and syncs.
func (r *backendRunner) Epoch(ctx context.Context) error {
	if err := r.t.TrainEpoch(ctx); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

func (r *backendRunner) Sync() error {
	if err := r.b.Sync(); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

func (r *backendRunner) Losses() ([]float32, error) {
	l, err := r.t.EpochLosses()
	if err != nil {
		return nil, fmt.Errorf("%s: read the losses: %w", r.name, err)
	}
	return l, nil
}

func (r *backendRunner) TestAccuracy() (float64, error) {
	ev, err := r.t.Evaluate()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.name, err)
	}
	return ev.Accuracy, nil
}

func (r *backendRunner) Params() ([]float32, error) {
	p, err := r.t.Model.ParamsHost()
	if err != nil {
		return nil, fmt.Errorf("%s: read the parameters: %w", r.name, err)
	}
	return p, nil
}

func (r *backendRunner) Reset() error {
	if err := r.t.Restore(r.start); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return r.Sync()
}

// Close frees everything and closes the backend.
func (r *backendRunner) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	r.t.Close()
	return r.b.Close()
}
