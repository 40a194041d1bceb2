package bench

import (
	"context"
	"fmt"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// backendRunner trains on an nn.Backend with exactly the ops nn.Trainer
// queues for a step (Gather, Forward, SoftmaxCrossEntropy, Backward, SGD),
// from data and parameters resident on the device. It drives the model
// itself rather than through nn.Trainer so that a single step can be timed
// and the trainer's per-epoch evaluation stays out of the epoch's time;
// TestBackendRunnerMatchesTrainer checks that the two compute the same thing.
type backendRunner struct {
	name  string
	b     nn.Backend
	cfg   Config
	model *nn.Model
	opt   *nn.Optimizer
	train *nn.DeviceData
	test  *nn.DeviceData
	eval  *nn.Evaluator

	order  nn.Buffer // int32 visiting order of the epoch in progress
	x      nn.Buffer // batch × pixels
	y      nn.Buffer // batch labels
	losses nn.Buffer // one mean loss per step of an epoch

	init   []float32 // the initial parameters Reset restores
	perm   []int32
	host   []float32
	closed bool
	epoch  int
	step   int // next step of epoch; steps means the epoch is finished
	steps  int
}

// NewBackendRunner makes a Runner that trains cfg on backend b, under name.
// It takes ownership of b: Close closes it, and so does a failure here.
func NewBackendRunner(name string, b nn.Backend, cfg Config, train, test *mnist.Dataset) (_ Runner, err error) {
	if err := cfg.Validate(train); err != nil {
		b.Close()
		return nil, err
	}
	if test.Pixels() != train.Pixels() {
		b.Close()
		return nil, fmt.Errorf("%s holds %d×%d images but %s holds %d×%d", test.Name, test.Rows, test.Cols, train.Name, train.Rows, train.Cols)
	}
	r := &backendRunner{name: name, b: b, cfg: cfg, init: nn.InitParams(cfg.Spec, cfg.Seed)}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	// Like nn.NewTrainer: room for a training batch or an evaluation batch of up to 1000.
	if r.model, err = nn.NewModel(b, cfg.Spec, max(cfg.Batch, min(1000, test.Len()))); err != nil {
		return nil, err
	}
	if err = r.model.SetParams(r.init); err != nil {
		return nil, err
	}
	if r.opt, err = nn.NewOptimizer(b, nn.OptimizerConfig{Name: "sgd"}, cfg.Spec.NumParams()); err != nil {
		return nil, err
	}
	if r.train, err = nn.UploadData(b, train); err != nil {
		return nil, err
	}
	if r.test, err = nn.UploadData(b, test); err != nil {
		return nil, err
	}
	if r.eval, err = nn.NewEvaluator(r.model, r.test, cfg.Norm); err != nil {
		return nil, err
	}
	r.steps = (train.Len() + cfg.Batch - 1) / cfg.Batch
	for _, a := range []struct {
		dst *nn.Buffer
		t   nn.DType
		n   int
	}{
		{&r.order, nn.Int32, train.Len()},
		{&r.x, nn.Float32, cfg.Batch * train.Pixels()},
		{&r.y, nn.Int32, cfg.Batch},
		{&r.losses, nn.Float32, r.steps},
	} {
		if *a.dst, err = b.Alloc(a.t, a.n); err != nil {
			return nil, fmt.Errorf("%s: allocate benchmark buffers: %w", name, err)
		}
	}
	r.perm = make([]int32, train.Len())
	r.host = make([]float32, r.steps)
	if err = b.Sync(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return r, nil
}

func (r *backendRunner) Name() string   { return r.name }
func (r *backendRunner) Device() string { return r.b.Device() }

// Step queues one training step.
func (r *backendRunner) Step() error {
	if r.step == r.steps {
		r.epoch++
		r.step = 0
	}
	if r.step == 0 {
		mnist.Permutation(r.perm, r.cfg.Seed, r.epoch)
		if err := r.b.Upload(r.order, r.perm); err != nil {
			return fmt.Errorf("%s: upload the epoch's order: %w", r.name, err)
		}
	}
	b, m, s := r.b, r.model, r.step
	n, pixels := r.train.Len(), r.train.Pixels()
	first := s * r.cfg.Batch
	rows := min(r.cfg.Batch, n-first)
	scale, shift := r.cfg.Norm.ScaleShift()
	b.Gather(r.x, r.y, r.train.Images, r.train.Labels, r.order, first, rows, pixels, scale, shift)
	m.Forward(r.x, rows)
	b.SoftmaxCrossEntropy(r.losses.Slice(s, 1), m.LogitsGrad(), m.Logits(), r.y, rows, m.Spec.Classes)
	m.Backward(r.x, rows)
	r.opt.Step(m.Params, m.Grads, r.cfg.LR)
	r.step++
	return nil
}

// Epoch runs the rest of the epoch in progress and syncs.
func (r *backendRunner) Epoch(ctx context.Context) error {
	if r.step == r.steps {
		r.epoch++
		r.step = 0
	}
	for r.step < r.steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.Step(); err != nil {
			return err
		}
	}
	return r.Sync()
}

func (r *backendRunner) Sync() error {
	if err := r.b.Sync(); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	return nil
}

func (r *backendRunner) Losses() ([]float32, error) {
	if r.step == 0 {
		return nil, nil
	}
	if err := r.b.Download(r.host[:r.step], r.losses.Slice(0, r.step)); err != nil {
		return nil, fmt.Errorf("%s: read the losses: %w", r.name, err)
	}
	return append([]float32(nil), r.host[:r.step]...), nil
}

func (r *backendRunner) TestAccuracy() (float64, error) {
	ev, err := r.eval.Run()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.name, err)
	}
	return ev.Accuracy, nil
}

func (r *backendRunner) Params() ([]float32, error) {
	p, err := r.model.ParamsHost()
	if err != nil {
		return nil, fmt.Errorf("%s: read the parameters: %w", r.name, err)
	}
	return p, nil
}

func (r *backendRunner) Reset() error {
	if err := r.model.SetParams(r.init); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	r.opt.Steps = 0
	r.epoch, r.step = 0, 0
	return r.Sync()
}

// Close frees everything and closes the backend.
func (r *backendRunner) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.eval != nil {
		r.eval.Close()
	}
	for _, d := range []*nn.DeviceData{r.train, r.test} {
		if d != nil {
			d.Close()
		}
	}
	for _, buf := range []nn.Buffer{r.order, r.x, r.y, r.losses} {
		if buf != nil {
			r.b.Free(buf)
		}
	}
	if r.opt != nil {
		r.opt.Close()
	}
	if r.model != nil {
		r.model.Close()
	}
	r.eval, r.train, r.test, r.opt, r.model = nil, nil, nil, nil, nil
	r.order, r.x, r.y, r.losses = nil, nil, nil, nil
	return r.b.Close()
}
