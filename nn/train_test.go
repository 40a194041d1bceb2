package nn_test

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// data returns a small learnable data set: 12×12 images, 10 classes.
func data(t testing.TB) (train, test *mnist.Dataset) {
	t.Helper()
	return mnisttest.SyntheticDataset(600, 12, 12, 1), mnisttest.SyntheticDataset(200, 12, 12, 2)
}

func cpuBackend(t testing.TB) nn.Backend {
	t.Helper()
	b, _, err := nn.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func config(opt string, epochs int) nn.TrainConfig {
	return nn.TrainConfig{
		Epochs:    epochs,
		Batch:     32, // 600 samples: 18 full batches and one of 24
		Schedule:  nn.Schedule{Name: "cosine", Base: 0.05, Epochs: epochs},
		Optimizer: nn.OptimizerConfig{Name: opt, Momentum: 0.9},
		Seed:      7,
		Shuffle:   true,
		Norm:      nn.MNISTNormalization,
		LogEvery:  5,
	}
}

func spec() nn.Spec { return nn.MLP(12, 12, []int{16, 12}, 10) }

// recordingLog remembers every Losses and EpochEnd call.
type recordingLog struct {
	losses []float32
	epochs []nn.EpochResult
}

func (r *recordingLog) Losses(_, _, _ int, l []float32) { r.losses = append(r.losses, l...) }
func (r *recordingLog) EpochEnd(e nn.EpochResult) error {
	r.epochs = append(r.epochs, e)
	return nil
}

func train(t *testing.T, b nn.Backend, cfg nn.TrainConfig) (*nn.Trainer, *recordingLog) {
	t.Helper()
	tr, te := data(t)
	tn, err := nn.NewTrainer(b, spec(), cfg, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tn.Close)
	log := &recordingLog{}
	tn.Observer = log
	if err := tn.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return tn, log
}

func TestTrainingLearnsAndIsDeterministic(t *testing.T) {
	for _, opt := range []string{"sgd", "adam"} {
		t.Run(opt, func(t *testing.T) {
			cfg := config(opt, 6)
			if opt == "adam" {
				cfg.Schedule.Base = 0.01
			}
			a, logA := train(t, cpuBackend(t), cfg)
			b, logB := train(t, cpuBackend(t), cfg)
			if len(logA.losses) != 6*19 {
				t.Fatalf("%d step losses reported, want 114", len(logA.losses))
			}
			if !slices.Equal(logA.losses, logB.losses) {
				t.Fatal("same seed, different losses")
			}
			pa, _ := a.Model.ParamsHost()
			pb, _ := b.Model.ParamsHost()
			if !slices.Equal(pa, pb) {
				t.Fatal("same seed, different weights")
			}
			// Chance is 10%; a model that learnt nothing scores about that.
			first, last := logA.epochs[0], logA.epochs[5]
			t.Logf("train loss %.3f → %.3f, test accuracy %.3f", first.TrainLoss, last.TrainLoss, last.Test.Accuracy)
			if !(last.TrainLoss < first.TrainLoss/2) || last.Test.Accuracy < 0.8 {
				t.Errorf("did not learn: train loss %.3f → %.3f, test accuracy %.3f", first.TrainLoss, last.TrainLoss, last.Test.Accuracy)
			}
			if a.Pos != (nn.Position{Epoch: 6, Updates: 114}) {
				t.Errorf("final position %+v", a.Pos)
			}
		})
	}
}

// fakeRecorder stands in for a CUDA graph: Record keeps the closure and
// Replay runs it again, which is what replaying a capture means as long as
// the closure only queues ops (and the trainer keeps its host state out of it).
type fakeRecorder struct {
	nn.Backend
	records, replays int
}

type fakeRecording struct {
	r   *fakeRecorder
	ops func()
}

func (f *fakeRecorder) Record(ops func()) (nn.Recording, error) {
	f.records++
	return &fakeRecording{f, ops}, nil
}
func (f *fakeRecording) Replay() error { f.r.replays++; f.ops(); return nil }
func (f *fakeRecording) Close() error  { return nil }

// MLPWorkspace and MLPStep pass a backend's fused step through (a CUDA
// graph captures the fused step's launches), so that recorded steps are
// the direct ones.
func (f *fakeRecorder) MLPWorkspace(widths []int, batch int) (int, error) {
	if s, ok := f.Backend.(nn.MLPStepper); ok {
		return s.MLPWorkspace(widths, batch)
	}
	return 0, errors.New("the backend runs its steps op by op")
}
func (f *fakeRecorder) MLPStep(s nn.MLPStep) { f.Backend.(nn.MLPStepper).MLPStep(s) }

func TestRecordedEpochsMatchDirectSteps(t *testing.T) {
	cfg := config("sgd", 3)
	cfg.Schedule = nn.Schedule{Name: "step", Base: 0.05, Every: 2, Gamma: 0.5} // 0.05, 0.05, 0.025
	direct, logD := train(t, cpuBackend(t), cfg)
	rec := &fakeRecorder{Backend: cpuBackend(t)}
	replayed, logR := train(t, rec, cfg)
	// Epoch 0 records (its lr stays for epoch 1), epoch 1 replays it, epoch 2
	// has a new lr, which would stay for an epoch 3: recorded anew.
	if rec.records != 2 || rec.replays != 3 {
		t.Errorf("%d recordings and %d replays, want 2 and 3", rec.records, rec.replays)
	}
	if !slices.Equal(logD.losses, logR.losses) {
		t.Error("recorded epochs give other losses than direct steps")
	}
	pd, _ := direct.Model.ParamsHost()
	pr, _ := replayed.Model.ParamsHost()
	if !slices.Equal(pd, pr) || direct.Pos != replayed.Pos {
		t.Errorf("recorded epochs end elsewhere: positions %+v and %+v", direct.Pos, replayed.Pos)
	}
	// Adam depends on the update number, and a cosine schedule changes the
	// learning rate every epoch: neither is recorded.
	for _, cfg := range []nn.TrainConfig{config("adam", 2), config("sgd", 2)} {
		rec = &fakeRecorder{Backend: cpuBackend(t)}
		train(t, rec, cfg)
		if rec.records != 0 {
			t.Errorf("%s with schedule %s was recorded %d times", cfg.Optimizer.Name, cfg.Schedule.Name, rec.records)
		}
	}
}

// Interrupting a run (a cancelled context) and resuming it from a
// checkpoint gives exactly the uninterrupted run's losses and weights.
func TestResumeFromCheckpointIsExact(t *testing.T) {
	for _, opt := range []string{"sgd", "adam"} {
		t.Run(opt, func(t *testing.T) {
			cfg := config(opt, 3)
			whole, wholeLog := train(t, cpuBackend(t), cfg)

			tr, te := data(t)
			second, log := resumeMidRun(t, spec(), cfg, tr, te, 19+7, nil)
			if !slices.Equal(log.losses, wholeLog.losses) {
				t.Error("resumed run's losses differ from the uninterrupted run's")
			}
			pw, _ := whole.Model.ParamsHost()
			pr, _ := second.Model.ParamsHost()
			if !slices.Equal(pw, pr) {
				t.Error("resumed run's weights differ from the uninterrupted run's")
			}
			for i, h := range second.History {
				if w := whole.History[i]; h.TrainLoss != w.TrainLoss || h.Test.Accuracy != w.Test.Accuracy {
					t.Errorf("epoch %d: resumed %.6f/%.4f, whole %.6f/%.4f", i+1, h.TrainLoss, h.Test.Accuracy, w.TrainLoss, w.Test.Accuracy)
				}
			}
		})
	}
}

// resumeMidRun runs cfg on the cpu backend until stopSteps step losses
// have been reported, which must stop it in the middle of its second
// epoch, saves a checkpoint to a file and loads it back, hands it to check
// (when not nil), and resumes a new trainer from it to the end. It returns
// that trainer and the step losses of both parts together.
func resumeMidRun(t *testing.T, spec nn.Spec, cfg nn.TrainConfig, tr, te *mnist.Dataset, stopSteps int, check func(*nn.Checkpoint)) (*nn.Trainer, *recordingLog) {
	t.Helper()
	first, err := nn.NewTrainer(cpuBackend(t), spec, cfg, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	log := &recordingLog{}
	ctx, cancel := context.WithCancel(context.Background())
	first.Observer = stopAfter{log, cancel, stopSteps}
	if err := first.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v, want context.Canceled", err)
	}
	if first.Pos.Epoch != 1 || first.Pos.Step == 0 {
		t.Fatalf("stopped at %+v, want in the middle of the second epoch (epoch index 1)", first.Pos)
	}
	ck, err := first.Capture(nn.ModelInfo{Spec: spec, DataID: nn.DataID(tr)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "run.ckpt.safetensors")
	if err := nn.SaveCheckpoint(path, ck); err != nil {
		t.Fatal(err)
	}
	loaded, err := nn.LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if check != nil {
		check(loaded)
	}
	second, err := nn.NewTrainer(cpuBackend(t), spec, loaded.State.Config, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Close)
	if err := second.Restore(loaded); err != nil {
		t.Fatal(err)
	}
	second.Observer = log
	if err := second.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return second, log
}

// stopAfter cancels the run once n step losses have been reported.
type stopAfter struct {
	*recordingLog
	cancel func()
	n      int
}

func (s stopAfter) Losses(e, f, g int, l []float32) {
	s.recordingLog.Losses(e, f, g, l)
	if g+len(l) >= s.n {
		s.cancel()
	}
}

func TestRestoreRefusesOtherModelsAndData(t *testing.T) {
	tr, te := data(t)
	b := cpuBackend(t)
	a, err := nn.NewTrainer(b, spec(), config("sgd", 1), tr, te)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ck, err := a.Capture(nn.ModelInfo{Spec: spec(), Dataset: "A", DataID: nn.DataID(tr)})
	if err != nil {
		t.Fatal(err)
	}

	other := nn.MLP(12, 12, []int{8}, 10)
	o, err := nn.NewTrainer(b, other, config("sgd", 1), tr, te)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.Restore(ck); err == nil || !strings.Contains(err.Error(), "mlp-16-12") {
		t.Errorf("restoring an mlp-16-12 into an mlp-8: %v", err)
	}

	otherData := mnisttest.SyntheticDataset(600, 12, 12, 99)
	d, err := nn.NewTrainer(b, spec(), config("sgd", 1), otherData, te)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Restore(ck); err == nil || !strings.Contains(err.Error(), "other data") {
		t.Errorf("restoring onto other data: %v", err)
	}

	adam, err := nn.NewTrainer(b, spec(), config("adam", 1), tr, te)
	if err != nil {
		t.Fatal(err)
	}
	defer adam.Close()
	if err := adam.Restore(ck); err == nil || !strings.Contains(err.Error(), "optimizer") {
		t.Errorf("restoring sgd state into adam: %v", err)
	}
}

func TestDivergenceNamesTheStep(t *testing.T) {
	tr, te := data(t)
	cfg := config("sgd", 2)
	cfg.Schedule = nn.Schedule{Name: "constant", Base: 1e6}
	tn, err := nn.NewTrainer(cpuBackend(t), spec(), cfg, tr, te)
	if err != nil {
		t.Fatal(err)
	}
	defer tn.Close()
	err = tn.Run(context.Background())
	if !errors.Is(err, nn.ErrDiverged) {
		t.Fatalf("lr 1e6: %v, want ErrDiverged", err)
	}
	for _, want := range []string{"at step", "lower the learning rate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	tr, te := data(t)
	b := cpuBackend(t)
	for _, tc := range []struct {
		edit func(*nn.TrainConfig)
		want string
	}{
		{func(c *nn.TrainConfig) { c.Epochs = 0 }, "epochs 0"},
		{func(c *nn.TrainConfig) { c.Batch = 0 }, "batch size 0"},
		{func(c *nn.TrainConfig) { c.Batch = 601 }, "larger than the training set"},
		{func(c *nn.TrainConfig) { c.Schedule.Base = 0 }, "learning rate 0"},
		{func(c *nn.TrainConfig) { c.Schedule.Base = float32(math.NaN()) }, "learning rate NaN"},
		{func(c *nn.TrainConfig) { c.Schedule.Name = "linear" }, "unknown learning-rate schedule"},
		{func(c *nn.TrainConfig) { c.Optimizer.Name = "rmsprop" }, "unknown optimizer"},
		{func(c *nn.TrainConfig) { c.Optimizer.Momentum = 1 }, "momentum 1"},
		{func(c *nn.TrainConfig) { c.Optimizer.Momentum, c.Optimizer.Nesterov = 0, true }, "nesterov needs a momentum"},
	} {
		cfg := config("sgd", 1)
		tc.edit(&cfg)
		_, err := nn.NewTrainer(b, spec(), cfg, tr, te)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", cfg, err, tc.want)
		}
	}
	if _, err := nn.NewTrainer(b, nn.MLP(28, 28, nil, 10), config("sgd", 1), tr, te); err == nil || !strings.Contains(err.Error(), "28×28") {
		t.Errorf("28×28 model on 12×12 data: %v", err)
	}
}

func TestSchedules(t *testing.T) {
	cos := nn.Schedule{Name: "cosine", Base: 0.1, Epochs: 4}
	want := []float32{0.1, 0.085355339, 0.05, 0.014644661}
	for e, w := range want {
		if got := cos.At(e); math.Abs(float64(got-w)) > 1e-7 {
			t.Errorf("cosine epoch %d: %g, want %g", e, got, w)
		}
	}
	step := nn.Schedule{Name: "step", Base: 1, Every: 2, Gamma: 0.1}
	for e, w := range []float32{1, 1, 0.1, 0.1, 0.01} {
		if got := step.At(e); math.Abs(float64(got-w)) > 1e-7 {
			t.Errorf("step epoch %d: %g, want %g", e, got, w)
		}
	}
	if got := (nn.Schedule{Name: "constant", Base: 0.3}).At(99); got != 0.3 {
		t.Errorf("constant: %g", got)
	}
}

// TestCNNRecipe checks the cnn's default recipe, read from the recipe
// table, against its values written out (the README's figures were
// measured with them).
func TestCNNRecipe(t *testing.T) {
	want := nn.TrainConfig{
		Epochs:    4,
		Batch:     64,
		Schedule:  nn.Schedule{Name: "cosine", Base: 0.001, Epochs: 4},
		Optimizer: nn.OptimizerConfig{Name: "adam"},
		Seed:      1,
		Shuffle:   true,
		Norm:      nn.MNISTNormalization,
	}
	if got := nn.CNNRecipe(); got != want {
		t.Errorf("CNNRecipe() = %+v, want %+v", got, want)
	}
	for _, r := range nn.Recipes() {
		if r.Config.Schedule.Epochs != r.Config.Epochs || r.Config.Seed != 1 {
			t.Errorf("recipe %s: the schedule spans %d of %d epochs, seed %d", r.Name, r.Config.Schedule.Epochs, r.Config.Epochs, r.Config.Seed)
		}
		if err := r.Config.Validate(60000); err != nil {
			t.Errorf("recipe %s: %v", r.Name, err)
		}
	}
}

// TestTrainerStepAllocatesNothing checks that once an epoch has been
// taken, a training step on the cpu backend allocates nothing, fused
// (nn.MLPStepper) and op by op, for the plain and the momentum optimiser.
func TestTrainerStepAllocatesNothing(t *testing.T) {
	tr, te := mnisttest.SyntheticDataset(32*60, 12, 12, 1), mnisttest.SyntheticDataset(100, 12, 12, 2)
	for _, fused := range []bool{true, false} {
		for _, opt := range []string{"sgd", "adam"} {
			cfg := config(opt, 3)
			cfg.NoFuse, cfg.NoRecord = !fused, true
			tn, err := nn.NewTrainer(cpuBackend(t), spec(), cfg, tr, te)
			if err != nil {
				t.Fatal(err)
			}
			for range tn.StepsPerEpoch() + 1 { // every step's slot once, and into epoch 2
				if err := tn.Step(); err != nil {
					t.Fatal(err)
				}
			}
			if a := testing.AllocsPerRun(40, func() {
				if err := tn.Step(); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("fused %v, %s: %v allocations a step", fused, opt, a)
			}
			tn.Close()
		}
	}
}
