package nn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mnist-go/mnist/mnist"
)

// TrainConfig holds the hyperparameters of a run.
type TrainConfig struct {
	Epochs    int
	Batch     int
	Schedule  Schedule // learning rate per epoch
	Optimizer OptimizerConfig
	Seed      uint64 // initialisation and shuffle
	Shuffle   bool   // a new seeded order every epoch (else data set order)
	Norm      Normalization
	LogEvery  int // steps between loss read-backs; 0 means 100
	EvalBatch int // batch size for evaluation; 0 means 1000
}

// Validate reports nonsense before anything is allocated.
func (c TrainConfig) Validate(trainSamples int) error {
	if c.Epochs < 1 {
		return fmt.Errorf("epochs %d: must be at least 1", c.Epochs)
	}
	if c.Batch < 1 {
		return fmt.Errorf("batch size %d: must be at least 1", c.Batch)
	}
	if c.Batch > trainSamples {
		return fmt.Errorf("batch size %d is larger than the training set (%d samples)", c.Batch, trainSamples)
	}
	if c.Norm.Std < 0 {
		return fmt.Errorf("normalisation std %g: must be positive (or 0 for none)", c.Norm.Std)
	}
	if err := c.Schedule.Validate(); err != nil {
		return err
	}
	return c.Optimizer.WithDefaults().Validate()
}

func (c TrainConfig) logEvery() int {
	if c.LogEvery > 0 {
		return c.LogEvery
	}
	return 100
}

// Position is where a run stands: the next step to take. It is all the
// random state there is, since shuffles and initialisation derive from the seed.
type Position struct {
	Epoch    int     `json:"epoch"`     // 0-based epoch in progress
	Step     int     `json:"step"`      // next step within that epoch
	Updates  int     `json:"updates"`   // optimiser updates so far (Adam's t)
	LossSum  float64 `json:"loss_sum"`  // sum of this epoch's step losses so far
	LossRows int     `json:"loss_rows"` // samples behind LossSum
}

// EpochResult reports one finished epoch.
type EpochResult struct {
	Epoch         int     // 0-based
	LR            float32 // learning rate used
	TrainLoss     float64 // mean of the epoch's step losses, weighted by batch size
	Test          *Evaluation
	Seconds       float64 // training time of the epoch, evaluation excluded
	SamplesPerSec float64
}

// Observer hears about a run's progress. Calls come from the goroutine that runs the trainer.
type Observer interface {
	// Losses reports the losses of consecutive steps of one epoch, starting
	// at step first (0-based within the epoch); global is the run-wide index of that step.
	Losses(epoch, first, global int, losses []float32)
	// EpochEnd reports a finished epoch and its evaluation on the test set.
	// An error (a checkpoint that cannot be written, say) stops the run:
	// Run returns it.
	EpochEnd(r EpochResult) error
}

// Trainer runs the training loop for a model on one backend.
type Trainer struct {
	Model     *Model
	Optimizer *Optimizer
	Config    TrainConfig
	Train     *DeviceData
	Test      *DeviceData
	Pos       Position
	Observer  Observer // may be nil
	History   []EpochResult

	eval   *Evaluator
	order  Buffer // int32 visiting order of the current epoch
	x      Buffer // batch × pixels
	y      Buffer // batch labels
	losses Buffer // one mean loss per step of an epoch
	host   []float32
	perm   []int32
}

// NewTrainer uploads both data sets, builds the model with parameters
// initialised from cfg.Seed and allocates every buffer the run needs.
func NewTrainer(b Backend, spec Spec, cfg TrainConfig, train, test *mnist.Dataset) (*Trainer, error) {
	if err := cfg.Validate(train.Len()); err != nil {
		return nil, err
	}
	if train.Pixels() != spec.Inputs() || test.Pixels() != spec.Inputs() {
		return nil, fmt.Errorf("model takes %d×%d images, data has %d×%d (train) and %d×%d (test)",
			spec.Rows, spec.Cols, train.Rows, train.Cols, test.Rows, test.Cols)
	}
	if cfg.EvalBatch == 0 {
		cfg.EvalBatch = 1000
	}
	t := &Trainer{Config: cfg}
	var err error
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if t.Model, err = NewModel(b, spec, max(cfg.Batch, min(cfg.EvalBatch, test.Len()))); err != nil {
		return nil, err
	}
	if err = t.Model.Init(cfg.Seed); err != nil {
		return nil, err
	}
	if t.Optimizer, err = NewOptimizer(b, cfg.Optimizer, spec.NumParams()); err != nil {
		return nil, err
	}
	if t.Train, err = UploadData(b, train); err != nil {
		return nil, err
	}
	if t.Test, err = UploadData(b, test); err != nil {
		return nil, err
	}
	if t.eval, err = NewEvaluator(t.Model, t.Test, cfg.Norm); err != nil {
		return nil, err
	}
	steps := t.StepsPerEpoch()
	for _, a := range []struct {
		dst *Buffer
		t   DType
		n   int
	}{
		{&t.order, Int32, train.Len()},
		{&t.x, Float32, cfg.Batch * train.Pixels()},
		{&t.y, Int32, cfg.Batch},
		{&t.losses, Float32, steps},
	} {
		if *a.dst, err = b.Alloc(a.t, a.n); err != nil {
			return nil, fmt.Errorf("allocate training buffers: %w", err)
		}
	}
	t.host = make([]float32, steps)
	t.perm = make([]int32, train.Len())
	return t, nil
}

// StepsPerEpoch returns the number of batches in an epoch (the last may be short).
func (t *Trainer) StepsPerEpoch() int {
	n := t.Train.Len()
	return (n + t.Config.Batch - 1) / t.Config.Batch
}

// Close frees everything the trainer allocated.
func (t *Trainer) Close() {
	if t.eval != nil {
		t.eval.Close()
	}
	for _, d := range []*DeviceData{t.Train, t.Test} {
		if d != nil {
			d.Close()
		}
	}
	if t.Optimizer != nil {
		t.Optimizer.Close()
	}
	if t.Model != nil {
		b := t.Model.Backend
		for _, buf := range []Buffer{t.order, t.x, t.y, t.losses} {
			if buf != nil {
				b.Free(buf)
			}
		}
		t.Model.Close()
	}
}

// ErrDiverged is wrapped by the error Run returns when a loss stops being finite.
var ErrDiverged = errors.New("training diverged")

// Run trains from Pos to the end of the last epoch. When ctx is cancelled
// it finishes the step in progress and returns ctx's error with Pos at the
// next step, so the run can be checkpointed and resumed exactly.
func (t *Trainer) Run(ctx context.Context) error {
	for t.Pos.Epoch < t.Config.Epochs {
		if err := t.runEpoch(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (t *Trainer) runEpoch(ctx context.Context) error {
	b, m, cfg := t.Model.Backend, t.Model, t.Config
	epoch := t.Pos.Epoch
	lr := cfg.Schedule.At(epoch)
	n, steps, pixels := t.Train.Len(), t.StepsPerEpoch(), t.Train.Pixels()
	scale, shift := cfg.Norm.ScaleShift()

	if cfg.Shuffle {
		mnist.Permutation(t.perm, cfg.Seed, epoch)
	} else {
		for i := range t.perm {
			t.perm[i] = int32(i)
		}
	}
	if err := b.Upload(t.order, t.perm); err != nil {
		return err
	}
	start := time.Now()
	logged := t.Pos.Step // first step whose loss is not yet read back
	for t.Pos.Step < steps {
		s := t.Pos.Step
		first := s * cfg.Batch
		rows := min(cfg.Batch, n-first)
		b.Gather(t.x, t.y, t.Train.Images, t.Train.Labels, t.order, first, rows, pixels, scale, shift)
		m.Forward(t.x, rows)
		b.SoftmaxCrossEntropy(t.losses.Slice(s, 1), m.LogitsGrad(), m.Logits(), t.y, rows, m.Spec.Classes)
		m.Backward(t.x, rows)
		t.Optimizer.Step(m.Params, m.Grads, lr)
		t.Pos.Step++
		t.Pos.Updates = t.Optimizer.Steps

		cancelled := ctx.Err() != nil
		if t.Pos.Step-logged >= cfg.logEvery() || t.Pos.Step == steps || cancelled {
			if err := t.readLosses(logged, t.Pos.Step); err != nil {
				return err
			}
			logged = t.Pos.Step
		}
		if cancelled {
			return ctx.Err()
		}
	}
	if err := b.Sync(); err != nil {
		return err
	}
	seconds := time.Since(start).Seconds()
	ev, err := t.eval.Run()
	if err != nil {
		return err
	}
	r := EpochResult{
		Epoch:         epoch,
		LR:            lr,
		TrainLoss:     t.Pos.LossSum / float64(t.Pos.LossRows),
		Test:          ev,
		Seconds:       seconds,
		SamplesPerSec: float64(n) / seconds,
	}
	t.History = append(t.History, r)
	t.Pos = Position{Epoch: epoch + 1, Updates: t.Pos.Updates}
	if t.Observer != nil {
		return t.Observer.EpochEnd(r)
	}
	return nil
}

// readLosses downloads the losses of steps [from, to) of the current epoch,
// checks that they are finite, adds them to the epoch's sum and reports them.
func (t *Trainer) readLosses(from, to int) error {
	losses := t.host[from:to]
	if err := t.Model.Backend.Download(losses, t.losses.Slice(from, to-from)); err != nil {
		return err
	}
	n, steps := t.Train.Len(), t.StepsPerEpoch()
	for i, l := range losses {
		s := from + i
		if math.IsNaN(float64(l)) || math.IsInf(float64(l), 0) {
			return fmt.Errorf("%w at step %d (epoch %d, step %d of %d): the loss is %v; lower the learning rate (now %g)",
				ErrDiverged, t.Pos.Epoch*steps+s+1, t.Pos.Epoch+1, s+1, steps, l, t.Config.Schedule.At(t.Pos.Epoch))
		}
		rows := min(t.Config.Batch, n-s*t.Config.Batch)
		t.Pos.LossSum += float64(l) * float64(rows)
		t.Pos.LossRows += rows
	}
	if t.Observer != nil {
		t.Observer.Losses(t.Pos.Epoch, from, t.Pos.Epoch*steps+from, losses)
	}
	return nil
}
