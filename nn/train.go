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
	EvalBatch int // batch size for evaluation; 0 means Spec.EvalBatch()
	Augment   Augmentation

	// NoRecord keeps a Recorder backend from replaying recorded epochs
	// (for comparisons; the results are the same either way).
	NoRecord bool `json:"-"`
	// NoFuse keeps an MLPStepper backend from running each MLP step fused
	// (for comparisons: the op-by-op steps are the reference).
	NoFuse bool `json:"-"`
	// ReplaySteps is how many training steps a HyperRecorder backend
	// records once and replays over and over through an epoch (0:
	// DefaultReplaySteps). Recording costs about as much as running, for
	// every step recorded: a few steps, replayed at moving positions,
	// cost a few steps; a whole epoch recorded costs an epoch.
	ReplaySteps int `json:"-"`
}

// DefaultReplaySteps is TrainConfig.ReplaySteps's default.
const DefaultReplaySteps = 64

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
	if err := c.Norm.Validate(); err != nil {
		return err
	}
	if err := c.Schedule.Validate(); err != nil {
		return err
	}
	if err := c.Augment.Validate(); err != nil {
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

// ParamObserver is an Observer that also wants every parameter and its
// gradient at the end of each epoch (for histograms of them). The trainer
// downloads both before the epoch's evaluation and calls EpochParams before
// EpochEnd; grads are those of the epoch's last step. The slices are the
// observer's to keep, laid out as Spec.Params says.
type ParamObserver interface {
	Observer
	EpochParams(epoch int, params, grads []float32) error
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

	eval       *Evaluator
	epochRec   Recording // recorded steps, see replayable: a whole epoch, or with a HyperRecorder a chunk of full batches
	epochRecLR float32   // the learning rate baked into epochRec
	tailRec    Recording // with a HyperRecorder: the epoch's steps after the last whole chunk
	order      Buffer    // int32 visiting order of the current epoch
	affine     Buffer    // with Augment: the current epoch's GatherAffine maps, one per position
	maps       []float32 // their host copy
	x          Buffer    // batch × pixels
	y          Buffer    // batch labels
	losses     Buffer    // one mean loss per step of an epoch
	lossViews  []Buffer  // losses' one-step views, each made on first use (lossSlot)
	host       []float32
	perm       []int32
	orderEpoch int         // the epoch whose order is in the order buffer; -1 for none
	ahead      epochInputs // the next epoch's order and maps, made while the device trains (shuffleAhead)

	fused  MLPStepper // the backend, when it runs this model's steps fused
	widths []int      // with fused: the MLP's widths (MLPStep.Widths)
	work   Buffer     // with fused: its scratch
}

// NewTrainer uploads both data sets, builds the model with parameters
// initialised from cfg.Seed and allocates every buffer the run needs.
func NewTrainer(b Backend, spec Spec, cfg TrainConfig, train, test *mnist.Dataset) (*Trainer, error) {
	if err := cfg.Validate(train.Len()); err != nil {
		return nil, err
	}
	for _, ds := range []*mnist.Dataset{train, test} {
		if err := checkLabels(ds, spec); err != nil {
			return nil, err
		}
	}
	if train.Pixels() != spec.Inputs() || test.Pixels() != spec.Inputs() {
		return nil, fmt.Errorf("model takes %d×%d images, data has %d×%d (train) and %d×%d (test)",
			spec.Rows, spec.Cols, train.Rows, train.Cols, test.Rows, test.Cols)
	}
	if cfg.EvalBatch == 0 {
		cfg.EvalBatch = spec.EvalBatch()
	}
	t := &Trainer{Config: cfg, orderEpoch: -1, ahead: epochInputs{epoch: -1}}
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
	if cfg.Augment.Enabled() {
		if t.affine, err = b.Alloc(Float32, train.Len()*AffineParams); err != nil {
			return nil, fmt.Errorf("allocate the augmentation maps: %w", err)
		}
		t.maps = make([]float32, train.Len()*AffineParams)
	}
	if err = t.setupFused(b, spec); err != nil {
		return nil, err
	}
	t.host = make([]float32, steps)
	t.perm = make([]int32, train.Len())
	return t, nil
}

// setupFused makes the trainer run each step as one MLPStep when the
// backend fuses steps and takes this MLP (see MLPStepper).
func (t *Trainer) setupFused(b Backend, spec Spec) error {
	st, ok := b.(MLPStepper)
	if !ok || spec.Model != "mlp" || t.Config.NoFuse {
		return nil
	}
	widths := append(append([]int{spec.Inputs()}, spec.Hidden...), spec.Classes)
	n, err := st.MLPWorkspace(widths, t.Config.Batch)
	if err != nil {
		return nil // not fusable here: the steps run op by op
	}
	if t.work, err = b.Alloc(Float32, n); err != nil {
		return fmt.Errorf("allocate the fused training step's scratch (%d float32): %w", n, err)
	}
	t.fused, t.widths = st, widths
	return nil
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
	for _, r := range []Recording{t.epochRec, t.tailRec} {
		if r != nil {
			r.Close()
		}
	}
	if t.Optimizer != nil {
		t.Optimizer.Close()
	}
	if t.Model != nil {
		b := t.Model.Backend
		for _, buf := range []Buffer{t.order, t.affine, t.x, t.y, t.losses, t.work} {
			if buf != nil {
				b.Free(buf)
			}
		}
		t.Model.Close()
	}
}

// ErrDiverged is wrapped by the error Run returns when a loss stops being finite.
var ErrDiverged = errors.New("training diverged")

// Run trains from Pos to the end of the last epoch, evaluating on the test
// set after each. When ctx is cancelled it finishes the step in progress
// and returns ctx's error with Pos at the next step, so the run can be
// checkpointed and resumed exactly. A ctx cancelled before Run begins
// (during start-up) stops it before the first step, with Pos unchanged.
func (t *Trainer) Run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for t.Pos.Epoch < t.Config.Epochs {
		seconds, err := t.trainEpoch(ctx, t.Pos.Epoch+1 < t.Config.Epochs)
		if err != nil {
			return err
		}
		if err := t.finishEpoch(seconds); err != nil {
			return err
		}
	}
	return nil
}

// TrainEpoch trains to the end of the epoch in progress, or through the
// whole next epoch when the one in progress has taken all its steps, and
// waits for the work to finish; when ctx is cancelled it stops after the
// step in progress and returns ctx's error. Unlike Run it neither
// evaluates nor records the epoch in History: it is for loops of one's own
// (and benchmarks), with Step, EpochLosses and Evaluate.
func (t *Trainer) TrainEpoch(ctx context.Context) error {
	t.skipToNextEpoch()
	_, err := t.trainEpoch(ctx, true)
	return err
}

// trainEpoch takes the remaining steps of the epoch in progress, reading
// the losses back every LogEvery steps, and waits for the work to finish.
// It returns the seconds spent; evaluation is left to finishEpoch. With
// ahead, the next epoch's order is made while the last steps run
// (shuffleAhead).
func (t *Trainer) trainEpoch(ctx context.Context, ahead bool) (float64, error) {
	b, cfg, steps := t.Model.Backend, t.Config, t.StepsPerEpoch()
	lr := cfg.Schedule.At(t.Pos.Epoch)
	start := time.Now()
	if err := t.beginEpoch(); err != nil {
		return 0, err
	}
	if rec, ok := b.(Recorder); ok && t.replayable(rec, lr) {
		if err := t.replayEpoch(rec, lr, ahead); err != nil {
			return 0, err
		}
	}
	logged := t.Pos.Step // first step whose loss is not yet read back
	for t.Pos.Step < steps {
		t.queueStep(lr)
		cancelled := ctx.Err() != nil
		if ahead && t.Pos.Step == steps && !cancelled {
			t.shuffleAhead()
		}
		if t.Pos.Step-logged >= cfg.logEvery() || t.Pos.Step == steps || cancelled {
			if err := t.readLosses(logged, t.Pos.Step); err != nil {
				return 0, err
			}
			logged = t.Pos.Step
		}
		if cancelled {
			return 0, ctx.Err()
		}
	}
	if err := b.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// finishEpoch evaluates the model after a finished epoch (trainEpoch took
// seconds), records the result in History, tells the Observer and moves
// Pos to the start of the next epoch.
func (t *Trainer) finishEpoch(seconds float64) error {
	if po, ok := t.Observer.(ParamObserver); ok {
		params, err := t.Model.ParamsHost()
		if err != nil {
			return err
		}
		grads := make([]float32, len(params))
		if err := t.Model.Backend.Download(grads, t.Model.Grads); err != nil {
			return err
		}
		if err := po.EpochParams(t.Pos.Epoch, params, grads); err != nil {
			return err
		}
	}
	ev, err := t.eval.Run()
	if err != nil {
		return err
	}
	epoch := t.Pos.Epoch
	r := EpochResult{
		Epoch:         epoch,
		LR:            t.Config.Schedule.At(epoch),
		TrainLoss:     t.Pos.LossSum / float64(t.Pos.LossRows),
		Test:          ev,
		Seconds:       seconds,
		SamplesPerSec: float64(t.Train.Len()) / seconds,
	}
	t.History = append(t.History, r)
	t.Pos = Position{Epoch: epoch + 1, Updates: t.Pos.Updates}
	if t.Observer != nil {
		return t.Observer.EpochEnd(r)
	}
	return nil
}

// Step queues the next training step without reading anything back: at
// the end of an epoch it moves on to the next one without evaluating. It is
// for timing single steps; Run is the way to train.
func (t *Trainer) Step() error {
	t.skipToNextEpoch()
	if err := t.beginEpoch(); err != nil {
		return err
	}
	t.queueStep(t.Config.Schedule.At(t.Pos.Epoch))
	return nil
}

// skipToNextEpoch moves Pos to the start of the next epoch, without
// evaluating, when the epoch in progress has taken all its steps.
func (t *Trainer) skipToNextEpoch() {
	if t.Pos.Step == t.StepsPerEpoch() {
		t.Pos = Position{Epoch: t.Pos.Epoch + 1, Updates: t.Pos.Updates}
	}
}

// EpochLosses downloads the losses of the steps taken so far in the epoch in progress.
func (t *Trainer) EpochLosses() ([]float32, error) {
	losses := make([]float32, t.Pos.Step)
	if len(losses) == 0 {
		return losses, nil
	}
	return losses, t.Model.Backend.Download(losses, t.losses.Slice(0, len(losses)))
}

// Evaluate runs the model's current parameters over the test set.
func (t *Trainer) Evaluate() (*Evaluation, error) { return t.eval.Run() }

// beginEpoch uploads the visiting order of the epoch in progress, once:
// the seeded permutation for that epoch, or file order without Shuffle;
// with Augment, the epoch's maps too. They come from shuffleAhead when it
// made them during the epoch before.
func (t *Trainer) beginEpoch() error {
	if t.orderEpoch == t.Pos.Epoch {
		return nil
	}
	if t.ahead.epoch == t.Pos.Epoch {
		t.perm, t.ahead.perm = t.ahead.perm, t.perm
		t.maps, t.ahead.maps = t.ahead.maps, t.maps
		t.ahead.epoch = -1
	} else {
		t.makeEpochInputs(t.perm, t.maps, t.Pos.Epoch)
	}
	if err := t.Model.Backend.Upload(t.order, t.perm); err != nil {
		return err
	}
	if t.affine != nil {
		if err := t.Model.Backend.Upload(t.affine, t.maps); err != nil {
			return err
		}
	}
	t.orderEpoch = t.Pos.Epoch
	return nil
}

// epochInputs is what the host makes for one epoch's batches: the
// visiting order and, with Augment, the maps.
type epochInputs struct {
	epoch int // -1: none made
	perm  []int32
	maps  []float32
}

// makeEpochInputs fills perm with epoch's visiting order and, with Augment,
// maps with its maps.
func (t *Trainer) makeEpochInputs(perm []int32, maps []float32, epoch int) {
	if t.Config.Shuffle {
		mnist.Permutation(perm, t.Config.Seed, epoch)
	} else {
		for i := range perm {
			perm[i] = int32(i)
		}
	}
	if t.affine != nil {
		src := t.Train.Source
		t.Config.Augment.Maps(maps, src.Rows, src.Cols, t.Config.Seed, epoch)
	}
}

// shuffleAhead makes the next epoch's order (and maps) for beginEpoch. It
// is called once the epoch's steps are queued and before their results
// are waited for, so that on a backend that runs ops asynchronously (cuda)
// the host's shuffle (about 0.2 ms for MNIST) overlaps the device's
// training instead of holding up the next epoch's first step. The order
// depends only on the seed and the epoch, so making it early changes
// nothing else.
func (t *Trainer) shuffleAhead() {
	next := t.Pos.Epoch + 1
	if t.ahead.epoch == next {
		return
	}
	if t.ahead.perm == nil {
		t.ahead.perm = make([]int32, len(t.perm))
		if t.maps != nil {
			t.ahead.maps = make([]float32, len(t.maps))
		}
	}
	t.makeEpochInputs(t.ahead.perm, t.ahead.maps, next)
	t.ahead.epoch = next
}

// queueStep queues training step Pos.Step of the epoch in progress at
// learning rate lr and advances Pos.
func (t *Trainer) queueStep(lr float32) {
	t.queueStepAt(t.Pos.Step, t.Pos.Updates+1, lr, chain{})
	t.Pos.Step++
	t.Pos.Updates++
}

// chain says whether a fused step continues from the previous one and
// prepares the next (MLPStep's Prepared and PrepareNext).
type chain struct{ prepared, prepareNext bool }

// chainIn returns the chain of step s in a run of steps [from, to) queued
// one after the other: every step but the first starts from what the one
// before prepared, and every step but the last prepares the next when
// that next batch is as large (the epoch's short last batch is not).
func (t *Trainer) chainIn(s, from, to int) chain {
	if t.fused == nil || t.affine != nil {
		return chain{}
	}
	full := func(s int) bool { return (s+1)*t.Config.Batch <= t.Train.Len() }
	return chain{
		prepared:    s > from && full(s-1) && full(s),
		prepareNext: s+1 < to && full(s) && full(s+1),
	}
}

// lossSlot returns the one-element view of step s's loss in t.losses,
// made once: after the first epoch a step allocates nothing.
func (t *Trainer) lossSlot(s int) Buffer {
	if t.lossViews == nil {
		t.lossViews = make([]Buffer, t.StepsPerEpoch())
	}
	if t.lossViews[s] == nil {
		t.lossViews[s] = t.losses.Slice(s, 1)
	}
	return t.lossViews[s]
}

// queueStepAt queues training step s of the epoch in progress (batch s of
// the order buffer) as optimiser update number update, chained to its
// neighbours as c says. It only queues ops, touching no host state, so
// that a recording of it replays faithfully.
func (t *Trainer) queueStepAt(s, update int, lr float32, c chain) {
	b, m, cfg := t.Model.Backend, t.Model, t.Config
	scale, shift := cfg.Norm.ScaleShift()
	first := s * cfg.Batch
	rows := min(cfg.Batch, t.Train.Len()-first)
	if t.fused != nil {
		step := MLPStep{
			Widths: t.widths, Rows: rows, Params: m.Params, Grads: m.Grads,
			Optimizer: t.Optimizer.Config, State: t.Optimizer.State(), LR: lr, Update: update,
			Loss: t.lossSlot(s), Work: t.work,
			Prepared: c.prepared, PrepareNext: c.prepareNext,
		}
		if t.affine != nil {
			src := t.Train.Source
			b.GatherAffine(t.x, t.y, t.Train.Images, t.Train.Labels, t.order, t.affine, first, rows, src.Rows, src.Cols, scale, shift)
			step.X, step.Y = t.x, t.y
		} else {
			step.Images, step.Labels, step.Order, step.Start, step.Scale, step.Shift = t.Train.Images, t.Train.Labels, t.order, first, scale, shift
		}
		t.fused.MLPStep(step)
		return
	}
	if t.affine != nil {
		src := t.Train.Source
		b.GatherAffine(t.x, t.y, t.Train.Images, t.Train.Labels, t.order, t.affine, first, rows, src.Rows, src.Cols, scale, shift)
	} else {
		b.Gather(t.x, t.y, t.Train.Images, t.Train.Labels, t.order, first, rows, t.Train.Pixels(), scale, shift)
	}
	m.Forward(t.x, rows)
	b.SoftmaxCrossEntropy(t.lossSlot(s), m.LogitsGrad(), m.Logits(), t.y, rows, m.Spec.Classes)
	m.Backward(t.x, rows)
	t.Optimizer.Step(m.Params, m.Grads, lr, update)
}

// replayable reports whether a whole epoch can run from recordings: from
// its first step, with nothing in them that changes from one replay to the
// next but buffer contents. A HyperRecorder's recordings take the learning
// rate, the update number, the batches' position and the losses' slot at
// each replay, so with one every epoch of every recipe replays a chunk of
// ReplaySteps steps over and over, and the epoch's last steps. Other
// recordings hold a whole epoch and bake in the learning rate and update
// number: Adam's bias correction depends on the update number, so only SGD
// replays, at a learning rate the recording has or that will stay for the
// next epoch too (re-recording every epoch would cost more than it saves).
func (t *Trainer) replayable(rec Recorder, lr float32) bool {
	cfg := t.Config
	if cfg.NoRecord || t.Pos.Step != 0 {
		return false
	}
	if _, ok := rec.(HyperRecorder); ok {
		return true
	}
	if cfg.Optimizer.Name != "sgd" {
		return false
	}
	return (t.epochRec != nil && t.epochRecLR == lr) || cfg.Schedule.At(t.Pos.Epoch+1) == lr
}

// replayChunks says how a HyperRecorder replays an epoch: chunks replays
// of one recording of k steps (the first k, all of full batches), then the
// remaining steps (tail, the short last batch among them) from a second
// recording made at their own positions.
func (t *Trainer) replayChunks() (k, chunks, tail int) {
	steps, full := t.StepsPerEpoch(), t.Train.Len()/t.Config.Batch
	k = t.Config.ReplaySteps
	if k <= 0 {
		k = DefaultReplaySteps
	}
	k = min(k, full)
	if k > 0 {
		chunks = full / k
	}
	return k, chunks, steps - chunks*k
}

// replayEpoch runs every step of the epoch in progress from recordings
// (recording them first when needed), moves Pos to the epoch's end and
// reads the losses back; with ahead, the next epoch's order is made while
// the replays run (shuffleAhead).
func (t *Trainer) replayEpoch(rec Recorder, lr float32, ahead bool) error {
	if err := t.queueReplays(rec, lr); err != nil {
		return err
	}
	steps := t.StepsPerEpoch()
	t.Pos.Step = steps
	t.Pos.Updates += steps
	if ahead {
		t.shuffleAhead()
	}
	return t.readLosses(0, steps)
}

// queueReplays queues the replays of every step of the epoch in progress
// at learning rate lr, recording them first when needed.
func (t *Trainer) queueReplays(rec Recorder, lr float32) error {
	steps := t.StepsPerEpoch()
	if hr, ok := rec.(HyperRecorder); ok {
		k, chunks, tail := t.replayChunks()
		record := func(from, to int) (HyperRecording, error) {
			// Update numbers are recorded as from+1..to; ReplayAt adds
			// the updates taken before.
			r, err := hr.RecordHyper(func() {
				for s := from; s < to; s++ {
					t.queueStepAt(s, s+1, lr, t.chainIn(s, from, to))
				}
			})
			if err != nil {
				return nil, fmt.Errorf("record training steps %d to %d: %w", from+1, to, err)
			}
			return r, nil
		}
		if t.epochRec == nil && chunks > 0 {
			r, err := record(0, k)
			if err != nil {
				return err
			}
			t.epochRec, t.epochRecLR = r, lr
		}
		if t.tailRec == nil && tail > 0 {
			r, err := record(chunks*k, steps)
			if err != nil {
				return err
			}
			t.tailRec = r
		}
		// Chunk c takes steps c·k to (c+1)·k: its batches c·k·Batch rows
		// further on in the order, its losses c·k slots further on.
		for c := 0; c < chunks; c++ {
			r := Replay{LR: lr, UpdateBase: t.Pos.Updates + c*k, RowBase: c * k * t.Config.Batch, LossBase: c * k}
			if err := t.epochRec.(HyperRecording).ReplayAt(r); err != nil {
				return err
			}
		}
		if tail > 0 {
			return t.tailRec.(HyperRecording).ReplayAt(Replay{LR: lr, UpdateBase: t.Pos.Updates})
		}
		return nil
	}
	if t.epochRec == nil || t.epochRecLR != lr {
		if t.epochRec != nil {
			t.epochRec.Close()
			t.epochRec = nil
		}
		// SGD does not use the update number, so one recording serves every epoch.
		r, err := rec.Record(func() {
			for s := 0; s < steps; s++ {
				t.queueStepAt(s, s+1, lr, t.chainIn(s, 0, steps))
			}
		})
		if err != nil {
			return fmt.Errorf("record an epoch: %w", err)
		}
		t.epochRec, t.epochRecLR = r, lr
	}
	return t.epochRec.Replay()
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
