package bench

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// Tolerances of the equivalence test: after 10 SGD steps every entry's
// per-step losses and final parameters must agree with the naive backend's
// to these absolute amounts. The entries sum in different orders in float32
// (blocked GEMMs, BLAS, a GPU), which moves the fifth decimal at most; a
// wrong gradient, a doubled batch division or a different data order moves
// the second (lr 0.1 makes every step count).
const (
	lossTolerance  = 1e-4
	paramTolerance = 1e-4
)

// equivalenceData is a small synthetic set in MNIST's shape whose size is
// not a multiple of the batch: an epoch of 5 steps ends with a short batch
// (32 samples), so 10 steps cross an epoch boundary and use both the full
// and the short-batch path of every entry.
func equivalenceData() (cfg Config, train, test *mnist.Dataset) {
	train = mnisttest.SyntheticDataset(4*64+32, 28, 28, 7)
	test = mnisttest.SyntheticDataset(300, 28, 28, 8)
	test.Name = "synthetic test"
	cfg = TutorialConfig(28, 28, nn.DefaultHidden)
	cfg.LR = 0.1
	cfg.Norm = nn.MNISTNormalization // larger inputs learn faster, and the shift is exercised
	return cfg, train, test
}

// trace runs steps training steps and returns every step's loss and the
// parameters after them.
func trace(t *testing.T, r Runner, steps int) (losses []float32, params []float32) {
	t.Helper()
	if err := r.Reset(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < steps; i++ {
		if err := r.Step(); err != nil {
			t.Fatalf("%s step %d: %v", r.Name(), i+1, err)
		}
		l, err := r.Losses()
		if err != nil {
			t.Fatal(err)
		}
		if len(l) == 0 {
			t.Fatalf("%s: no loss after step %d", r.Name(), i+1)
		}
		losses = append(losses, l[len(l)-1])
	}
	params, err := r.Params()
	if err != nil {
		t.Fatal(err)
	}
	return losses, params
}

// TestEntriesAgree runs every entry for 10 steps from the same weights on
// the same batches and checks their losses and parameters against the naive
// backend's, and that Reset restores the start exactly.
func TestEntriesAgree(t *testing.T) {
	cfg, train, test := equivalenceData()
	entriesAgree(t, cfg, train, test, 10, 0.2, func(t *testing.T, r, _ Runner, losses []float32) {
		// Reset must restore the start exactly: a second trace repeats the first.
		again, _ := trace(t, r, 2)
		if d := math.Abs(float64(again[0] - losses[0])); d > lossTolerance {
			t.Errorf("after Reset the first loss is %.6f, first time %.6f", again[0], losses[0])
		}
	})
}

// entriesAgree trains the naive reference for steps steps, requires its
// loss to drop by at least minDrop (or agreeing would prove little), and
// then every other entry that opens here for the same steps from the same
// weights on the same batches: losses within lossTolerance of the
// reference's at every step, parameters within paramTolerance at the end.
// then, if not nil, runs further checks on each entry r, given the
// reference ref after its steps (not to be stepped further) and r's losses.
func entriesAgree(t *testing.T, cfg Config, train, test *mnist.Dataset, steps int, minDrop float32, then func(t *testing.T, r, ref Runner, losses []float32)) {
	t.Helper()
	ref, err := Open(Naive, cfg, train, test)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	wantLoss, wantParams := trace(t, ref, steps)
	t.Logf("naive losses %v", wantLoss)
	if !(wantLoss[steps-1] < wantLoss[0]-minDrop) {
		t.Fatalf("naive reference did not learn in %d steps: losses %v", steps, wantLoss)
	}
	if d := maxDiff(wantParams, nn.InitParams(cfg.Spec, cfg.Seed)); d < 100*paramTolerance {
		t.Fatalf("naive reference's parameters moved by at most %g in %d steps: too little to compare", d, steps)
	}
	for _, name := range Names() {
		if name == Naive {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r, err := Open(name, cfg, train, test)
			if err != nil {
				t.Skipf("%s cannot run here: %v", name, err)
			}
			defer r.Close()
			losses, params := trace(t, r, steps)
			for i := range wantLoss {
				if d := math.Abs(float64(losses[i] - wantLoss[i])); !(d <= lossTolerance) {
					t.Errorf("step %d: loss %.6f, naive %.6f (differ by %.2g > %g)", i+1, losses[i], wantLoss[i], d, lossTolerance)
				}
			}
			if d := maxDiff(params, wantParams); !(d <= paramTolerance) {
				t.Errorf("after %d steps the parameters differ from naive's by up to %.2g (> %g)", steps, d, paramTolerance)
			}
			if then != nil {
				then(t, r, ref, losses)
			}
		})
	}
}

// maxDiff returns the largest |a[i]-b[i]|, +Inf for different lengths and NaN when one is.
func maxDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		d := math.Abs(float64(a[i] - b[i]))
		if math.IsNaN(d) {
			return d
		}
		m = max(m, d)
	}
	return m
}

// TestBackendRunnerMatchesTrainer checks that what the harness times on a
// backend is what nn.Trainer computes: one epoch of each gives the same
// parameters, mean loss and test accuracy.
func TestBackendRunnerMatchesTrainer(t *testing.T) {
	cfg, train, test := equivalenceData()
	for _, name := range append(nn.Backends(), Naive) {
		t.Run(name, func(t *testing.T) {
			r, err := Open(name, cfg, train, test)
			if err != nil {
				t.Skipf("%s cannot run here: %v", name, err)
			}
			defer r.Close()
			if err := r.Epoch(context.Background()); err != nil {
				t.Fatal(err)
			}
			got, err := r.Params()
			if err != nil {
				t.Fatal(err)
			}
			losses, err := r.Losses()
			if err != nil {
				t.Fatal(err)
			}
			acc, err := r.TestAccuracy()
			if err != nil {
				t.Fatal(err)
			}

			b := openBackend(t, name)
			defer b.Close()
			tc := nn.TrainConfig{
				Epochs: 1, Batch: cfg.Batch, Seed: cfg.Seed, Shuffle: true, Norm: cfg.Norm,
				Schedule:  nn.Schedule{Name: "constant", Base: cfg.LR},
				Optimizer: nn.OptimizerConfig{Name: "sgd"},
			}
			tr, err := nn.NewTrainer(b, cfg.Spec, tc, train, test)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if err := tr.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			want, err := tr.Model.ParamsHost()
			if err != nil {
				t.Fatal(err)
			}
			if d := maxDiff(got, want); !(d <= 1e-6) {
				t.Errorf("parameters after one epoch differ from nn.Trainer's by up to %.2g", d)
			}
			h := tr.History[0]
			if l := meanLoss(losses, cfg.Batch, train.Len()); math.Abs(l-h.TrainLoss) > 1e-6 {
				t.Errorf("mean loss %.7f, trainer %.7f", l, h.TrainLoss)
			}
			// One sample either way, for a device whose reductions are not bitwise repeatable.
			if math.Abs(acc-h.Test.Accuracy) > 1.5/float64(test.Len()) {
				t.Errorf("test accuracy %.4f, trainer %.4f", acc, h.Test.Accuracy)
			}
		})
	}
}

func openBackend(t *testing.T, name string) nn.Backend {
	t.Helper()
	if name == Naive {
		return newNaive()
	}
	b, _, err := nn.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGEMMEntriesAgree checks every entry's products against a float64 loop
// on the model's shapes, so that the GEMM benchmarks time correct work.
func TestGEMMEntriesAgree(t *testing.T) {
	shapes := append(ModelGEMMShapes(nn.MLP(28, 28, nn.DefaultHidden, mnist.DigitClasses), 64), GEMMShape{M: 3, N: 5, K: 7, TransA: true, TransB: true})
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			g, err := OpenGEMM(name)
			if err != nil {
				t.Skipf("%s cannot run here: %v", name, err)
			}
			defer g.Close()
			for _, s := range shapes {
				if err := g.Prepare(s); err != nil {
					t.Fatal(err)
				}
				if err := g.Run(2); err != nil { // twice: C must be overwritten, not accumulated
					t.Fatal(err)
				}
				got, err := g.Result()
				if err != nil {
					t.Fatal(err)
				}
				want := refGEMM(s)
				if len(got) != len(want) {
					t.Fatalf("%s: %d results, want %d", s, len(got), len(want))
				}
				for i := range want {
					// The operands are in [-1, 1): |C| ≤ K, rounding error about K·2⁻²⁴ per term.
					if d := math.Abs(float64(got[i]) - want[i]); !(d <= 1e-5*float64(s.K)) {
						t.Fatalf("%s: C[%d] = %g, want %g", s, i, got[i], want[i])
					}
				}
			}
		})
	}
}

func refGEMM(s GEMMShape) []float64 {
	a, b := gemmOperands(s)
	c := make([]float64, s.M*s.N)
	for i := 0; i < s.M; i++ {
		for j := 0; j < s.N; j++ {
			var sum float64
			for k := 0; k < s.K; k++ {
				av := a[i*s.K+k]
				if s.TransA {
					av = a[k*s.M+i]
				}
				bv := b[k*s.N+j]
				if s.TransB {
					bv = b[j*s.K+k]
				}
				sum += float64(av) * float64(bv)
			}
			c[i*s.N+j] = sum
		}
	}
	return c
}

func TestModelGEMMShapes(t *testing.T) {
	got := ModelGEMMShapes(nn.MLP(28, 28, []int{64, 32}, 10), 64)
	want := []string{
		"64x64x784,NT", "64x784x64,TN", // layer 1: forward, weight gradient (no input gradient)
		"64x32x64,NT", "32x64x64,TN", "64x64x32,NN",
		"64x10x32,NT", "10x32x64,TN", "64x32x10,NN",
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
	// The products are the whole of the model's training FLOPs.
	if spec := nn.MLP(28, 28, []int{64, 32}, 10); flops != 64*spec.FLOPsPerSample() {
		t.Errorf("shapes add up to %g FLOPs, the spec says %g per step", flops, 64*spec.FLOPsPerSample())
	}
}

func TestOpenUnknown(t *testing.T) {
	cfg, train, test := equivalenceData()
	_, err := Open("tpu", cfg, train, test)
	if !errors.Is(err, ErrUnknown) {
		t.Fatalf("Open(tpu): %v, want ErrUnknown", err)
	}
	if _, err := OpenGEMM("tpu"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("OpenGEMM(tpu): %v, want ErrUnknown", err)
	}
	bad := cfg
	bad.Batch = train.Len() + 1
	if _, err := Open(Gorgonia, bad, train, test); err == nil {
		t.Fatal("a batch larger than the training set was accepted")
	}
}
