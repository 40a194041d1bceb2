package cpu_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
	"github.com/mnist-go/mnist/nn/naive"
)

// TestMLPStepMatchesOps trains MLPs of several shapes (the tutorial's
// layers on small images, no hidden layer, odd and wide layers, a short
// last batch, batch 1, 1,600 inputs, augmented batches) with every
// optimiser, raw and normalised pixels, for 2 epochs three times: every
// step fused (cpu.Backend as nn.MLPStepper), op by op on the same backend
// (NoFuse), and op by op on nn/naive's reference loops. The weights, the
// last step's gradients, the epoch losses and the test accuracy must agree
// up to float32 rounding. Each kernel path runs, on 1 and 2 threads.
func TestMLPStepMatchesOps(t *testing.T) {
	const epochs = 2
	shapes := []struct {
		name        string
		spec        nn.Spec
		train, test int
		batch       int
		augment     bool
		recipes     string // the backendtest.Recipes to run ("" for all)
	}{
		{"tutorial-like", nn.MLP(12, 12, []int{16, 8}, 10), 45, 10, 8, false, ""},
		{"tutorial-widths", nn.MLP(28, 28, []int{64, 32}, 10), 150, 20, 64, false, "sgd-constant momentum-cosine"}, // a last batch of 22
		{"no-hidden", nn.MLP(9, 7, nil, 10), 30, 10, 7, false, "momentum-cosine adam-cosine"},
		{"deep-odd", nn.MLP(10, 10, []int{33, 17, 5}, 10), 30, 10, 6, false, "nesterov-step adam-constant-wd"},
		{"wide-256", nn.MLP(8, 8, []int{256, 20}, 10), 20, 10, 20, false, "momentum-cosine sgd-wd"},
		{"augmented", nn.MLP(12, 12, []int{16}, 10), 30, 10, 8, true, "sgd-constant adam-cosine"},
		{"batch-1", nn.MLP(6, 6, []int{12, 7}, 10), 5, 10, 1, false, "momentum-cosine"},
		{"wide-inputs", nn.MLP(40, 40, []int{20}, 10), 12, 10, 6, false, "sgd-constant"}, // 1,600 inputs
	}
	norms := []struct {
		name string
		norm nn.Normalization
	}{{"raw", nn.Normalization{}}, {"normalised", nn.MNISTNormalization}}
	paths := cpu.KernelPaths()
	for _, sh := range shapes {
		for _, r := range backendtest.Recipes {
			if sh.recipes != "" && !strings.Contains(sh.recipes, r.Name) {
				continue
			}
			for ni, nm := range norms {
				t.Run(sh.name+"/"+r.Name+"/"+nm.name, func(t *testing.T) {
					train := mnisttest.SyntheticDataset(sh.train, sh.spec.Rows, sh.spec.Cols, 11)
					test := mnisttest.SyntheticDataset(sh.test, sh.spec.Rows, sh.spec.Cols, 12)
					cfg := nn.TrainConfig{
						Epochs: epochs, Batch: sh.batch, Seed: 4, Shuffle: true, Norm: nm.norm,
						Schedule: r.Schedule, Optimizer: r.Optimizer, NoRecord: true,
					}
					if sh.augment {
						cfg.Augment = nn.DefaultAugmentation
					}
					// Kernel paths and thread counts take turns across the
					// subtests, so that every one runs somewhere.
					path := paths[(len(t.Name())+ni)%len(paths)]
					threads := 1 + len(t.Name())%2
					fused, ok := cpu.NewWithKernels(path, cpu.WithThreads(threads), cpu.WithFusedMLP(true))
					if !ok {
						t.Fatalf("kernel path %s", path)
					}
					ops, _ := cpu.NewWithKernels(path, cpu.WithThreads(threads))
					t.Logf("%s kernels, %d threads", path, threads)
					runs := []struct {
						be     nn.Backend
						noFuse bool
					}{{fused, false}, {ops, true}, {naive.New(), false}}
					var params, grads [3][]float32
					var history [3][]nn.EpochResult
					for i, run := range runs {
						c := cfg
						c.NoFuse = run.noFuse
						params[i], grads[i], history[i] = trainFor(t, run.be, sh.spec, c, train, test)
					}
					for i, name := range []string{"op by op", "the reference"} {
						if e := backendtest.RelDiff(params[0], params[i+1]); !(e < 2e-5) {
							t.Errorf("weights after %d epochs: fused and %s differ by %.3g (relative norm)", epochs, name, e)
						}
						if e := backendtest.RelDiff(grads[0], grads[i+1]); !(e < 2e-4) {
							t.Errorf("the last step's gradients: fused and %s differ by %.3g (relative norm)", name, e)
						}
						for e := range history[0] {
							a, b := history[0][e], history[i+1][e]
							if math.Abs(a.TrainLoss-b.TrainLoss) > 1e-5*math.Max(1, math.Abs(b.TrainLoss)) {
								t.Errorf("epoch %d loss: %.8g fused, %.8g %s", e, a.TrainLoss, b.TrainLoss, name)
							}
							if a.Test.Correct != b.Test.Correct {
								t.Errorf("epoch %d test accuracy: %d correct fused, %d %s", e, a.Test.Correct, b.Test.Correct, name)
							}
						}
					}
				})
			}
		}
	}
}

// countingStepper counts the fused steps a trainer runs.
type countingStepper struct {
	*cpu.Backend
	steps int
}

func (c *countingStepper) MLPStep(s nn.MLPStep) {
	c.steps++
	c.Backend.MLPStep(s)
}

// trainFor trains spec on be and returns the parameters, the last step's
// gradients and the history. A cpu backend must run fused steps unless
// cfg.NoFuse says not to, and op by op otherwise.
func trainFor(t *testing.T, be nn.Backend, spec nn.Spec, cfg nn.TrainConfig, train, test *mnist.Dataset) ([]float32, []float32, []nn.EpochResult) {
	t.Helper()
	var counter *countingStepper
	if c, ok := be.(*cpu.Backend); ok {
		counter = &countingStepper{Backend: c}
		be = counter
	}
	defer be.Close()
	tr, err := nn.NewTrainer(be, spec, cfg, train, test)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	params, err := tr.Model.ParamsHost()
	if err != nil {
		t.Fatal(err)
	}
	grads := make([]float32, len(params))
	if err := be.Download(grads, tr.Model.Grads); err != nil {
		t.Fatal(err)
	}
	if counter != nil {
		want := 0
		if !cfg.NoFuse {
			want = cfg.Epochs * tr.StepsPerEpoch()
		}
		if counter.steps != want {
			t.Errorf("%d fused steps (NoFuse %v), want %d", counter.steps, cfg.NoFuse, want)
		}
	}
	return params, grads, tr.History
}

// TestMLPStepThreads checks that the fused step computes the same bits on
// 1, 2 and 3 threads (its parts of rows and of inputs split no sum),
// raw and normalised, so that a run resumed on another machine continues
// as it would have.
func TestMLPStepThreads(t *testing.T) {
	spec := nn.MLP(28, 28, []int{64, 32}, 10)
	train := mnisttest.SyntheticDataset(200, 28, 28, 3)
	for _, norm := range []nn.Normalization{{}, nn.MNISTNormalization} {
		var want []float32
		for _, threads := range []int{1, 2, 3} {
			cfg := nn.TrainConfig{Epochs: 1, Batch: 64, Seed: 2, Shuffle: true, Norm: norm, NoRecord: true,
				Schedule: nn.Schedule{Name: "constant", Base: 0.05}, Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9}}
			params, _, _ := trainFor(t, cpu.New(cpu.WithThreads(threads), cpu.WithSpin(0), cpu.WithFusedMLP(true)), spec, cfg, train, train)
			if want == nil {
				want = params
				continue
			}
			for i := range want {
				if math.Float32bits(params[i]) != math.Float32bits(want[i]) {
					t.Fatalf("norm %+v: %d threads: parameter %d is %g, %g on 1 thread", norm, threads, i, params[i], want[i])
				}
			}
		}
	}
}

// tinyMLP returns a backend's allocator that fails the test when an
// allocation does, and the 16-8-10 MLP's widths, parameter count and
// scratch for batches of rows.
func tinyMLP(t *testing.T, b *cpu.Backend, rows int) ([]int, int, int, func(nn.DType, int) nn.Buffer) {
	t.Helper()
	widths := []int{16, 8, 10}
	work, err := b.MLPWorkspace(widths, rows)
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(dt nn.DType, n int) nn.Buffer {
		buf, err := b.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		return buf
	}
	return widths, 8*17 + 10*9, work, alloc
}

// TestMLPStepBadData checks that a fused step reports an order entry
// outside the data set and a label outside the classes, as Gather and
// SoftmaxCrossEntropy do, and changes no parameter.
func TestMLPStepBadData(t *testing.T) {
	for _, c := range []struct {
		name        string
		order       int32
		label       uint8
		wantInError string
	}{
		{"order", 99, 1, "order[0] = 99 is outside the data set"},
		{"negative order", -1, 1, "order[0] = -1 is outside"},
		{"label", 0, 12, "the label of row 0 is 12, outside the 10 classes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := cpu.New(cpu.WithFusedMLP(true))
			defer b.Close()
			widths, nparams, work, alloc := tinyMLP(t, b, 2)
			images, labels, order := alloc(nn.Uint8, 2*16), alloc(nn.Uint8, 2), alloc(nn.Int32, 2)
			grads, loss, ws := alloc(nn.Float32, nparams), alloc(nn.Float32, 1), alloc(nn.Float32, work)
			before, got := make([]float32, nparams), make([]float32, nparams)
			for i := range before {
				before[i] = float32(i%7) - 3
			}
			copy(got, before)
			params, err := b.Wrap(got) // read after the step, past the sticky error
			if err != nil {
				t.Fatal(err)
			}
			for _, up := range []struct {
				dst nn.Buffer
				src any
			}{{labels, []uint8{c.label, 3}}, {order, []int32{c.order, 1}}, {images, make([]uint8, 32)}} {
				if err := b.Upload(up.dst, up.src); err != nil {
					t.Fatal(err)
				}
			}
			b.MLPStep(nn.MLPStep{
				Widths: widths, Rows: 2, Images: images, Labels: labels, Order: order, Scale: 1,
				Params: params, Grads: grads, Optimizer: nn.OptimizerConfig{Name: "sgd"}, LR: 0.1, Update: 1,
				Loss: loss, Work: ws,
			})
			err = b.Sync()
			if err == nil || !strings.Contains(err.Error(), c.wantInError) {
				t.Fatalf("Sync = %v, want an error containing %q", err, c.wantInError)
			}
			for i := range got {
				if got[i] != before[i] {
					t.Fatalf("parameter %d changed from %g to %g by a refused step", i, before[i], got[i])
				}
			}
		})
	}
}

// TestMLPStepContract checks that MLPStep refuses operands that do not fit
// the widths (nn.MLPStep.Check), with an error naming the operand, and
// that MLPWorkspace refuses an MLP it cannot take.
func TestMLPStepContract(t *testing.T) {
	for _, c := range []struct {
		widths []int
		batch  int
		want   string
	}{
		{[]int{784}, 64, "1 widths"},
		{[]int{784, 0, 10}, 64, "width 1 is 0"},
		{[]int{784, 64, 10}, 0, "batch of 0"},
		{[]int{1 << 20, 1 << 20, 10}, 64, "2^28"},
	} {
		if _, err := cpu.New(cpu.WithThreads(1), cpu.WithFusedMLP(true)).MLPWorkspace(c.widths, c.batch); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MLPWorkspace(%v, %d) = %v, want an error saying %q", c.widths, c.batch, err, c.want)
		}
	}
	good := func(t *testing.T, b *cpu.Backend) (nn.MLPStep, func(nn.DType, int) nn.Buffer, int, int) {
		widths, nparams, work, alloc := tinyMLP(t, b, 4)
		return nn.MLPStep{
			Widths: widths, Rows: 4, Images: alloc(nn.Uint8, 4*16), Labels: alloc(nn.Uint8, 4), Order: alloc(nn.Int32, 4), Scale: 1,
			Params: alloc(nn.Float32, nparams), Grads: alloc(nn.Float32, nparams), Optimizer: nn.OptimizerConfig{Name: "sgd"},
			LR: 0.1, Update: 1, Loss: alloc(nn.Float32, 1), Work: alloc(nn.Float32, work),
		}, alloc, nparams, work
	}
	for _, c := range []struct {
		name  string
		mod   func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int)
		inErr string
	}{
		{"short params", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) {
			s.Params = alloc(nn.Float32, nparams-1)
		}, "params holds"},
		{"grads type", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) {
			s.Grads = alloc(nn.Int32, nparams)
		}, "grads holds int32"},
		{"short order", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) { s.Start = 1 }, "order holds 4 elements"},
		{"no rows", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) { s.Rows = 0 }, "rows is 0"},
		{"small work", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) {
			s.Work = alloc(nn.Float32, work-1)
		}, "work holds"},
		{"momentum without state", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) {
			s.Optimizer.Momentum = 0.9
		}, "0 optimizer state buffers"},
		{"adam update 0", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) {
			s.Optimizer = nn.OptimizerConfig{Name: "adam"}
			s.Update = 0
		}, "update number 0"},
		{"zero width", func(s *nn.MLPStep, alloc func(nn.DType, int) nn.Buffer, nparams, work int) {
			s.Widths = []int{16, 0, 10}
		}, "at least one unit"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := cpu.New(cpu.WithFusedMLP(true))
			defer b.Close()
			s, alloc, nparams, work := good(t, b)
			c.mod(&s, alloc, nparams, work)
			b.MLPStep(s)
			if err := b.Sync(); err == nil || !strings.Contains(err.Error(), c.inErr) {
				t.Fatalf("MLPStep = %v, want an error containing %q", err, c.inErr)
			}
		})
	}
	// The good step itself runs, and only where the fused step is on.
	b := cpu.New(cpu.WithFusedMLP(true))
	defer b.Close()
	s, _, _, _ := good(t, b)
	b.MLPStep(s)
	if err := b.Sync(); err != nil {
		t.Fatalf("a good step: %v", err)
	}
	off := cpu.New(cpu.WithFusedMLP(false))
	defer off.Close()
	if _, err := off.MLPWorkspace([]int{16, 8, 10}, 4); err == nil || !strings.Contains(err.Error(), "off") {
		t.Errorf("MLPWorkspace without WithFusedMLP = %v, want an error saying the fused step is off", err)
	}
}

// TestMLPStepAllocatesNothing checks that a warm fused step allocates
// nothing, on one thread and on two, raw and normalised, a short last
// batch included.
func TestMLPStepAllocatesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are measured in full runs")
	}
	widths := []int{784, 64, 32, 10}
	const n, batch = 300, 64
	nparams := 64*785 + 32*65 + 10*33
	data := mnisttest.SyntheticDataset(n, 28, 28, 5)
	order := make([]int32, n)
	for i := range order {
		order[i] = int32((i * 7) % n)
	}
	for _, threads := range []int{1, 2} {
		for _, shift := range []float32{0, -0.42} {
			b := cpu.New(cpu.WithThreads(threads), cpu.WithFusedMLP(true))
			work, err := b.MLPWorkspace(widths, batch)
			if err != nil {
				t.Fatal(err)
			}
			buf := func(src any) nn.Buffer {
				x, err := b.Wrap(src)
				if err != nil {
					t.Fatal(err)
				}
				return x
			}
			step := nn.MLPStep{
				Widths: widths, Images: buf(data.Images), Labels: buf(data.Labels), Order: buf(order),
				Scale: 1.0 / 255, Shift: shift, Params: buf(nn.InitParams(nn.MLP(28, 28, []int{64, 32}, 10), 1)),
				Grads: buf(make([]float32, nparams)), Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9},
				State: []nn.Buffer{buf(make([]float32, nparams))}, LR: 0.01, Update: 1,
				Loss: buf(make([]float32, 1)), Work: buf(make([]float32, work)),
			}
			i := 0
			run := func() {
				step.Start = (i * batch) % n
				step.Rows = min(batch, n-step.Start) // 300 = 4×64 + 44
				b.MLPStep(step)
				i++
			}
			for range 10 {
				run()
			}
			if a := testing.AllocsPerRun(50, run); a != 0 {
				t.Errorf("%d threads, shift %g: %v allocations per fused step", threads, shift, a)
			}
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			b.Close()
		}
	}
}
