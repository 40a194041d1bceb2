package gpu

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
	"github.com/mnist-go/mnist/nn/naive"
)

// TestMLPStepMatchesReference trains MLPs of several shapes (no hidden
// layer, odd widths, a 256-wide layer, short last batches, augmented
// batches) with every recipe for 2 epochs twice: every step fused
// (nn.MLPStepper: kernels/mlp.cu on the emulator, each multi-block launch
// run in two block orders) and op by op on nn/naive's reference loops. The
// weights, the epoch losses and the test accuracy must agree up to float32
// rounding, and a fused step must be 3 launches (4 with augmentation: the
// GatherAffine before it), with no optimiser or loss kernel of the op path.
// Every third shape runs the kernels with mlp_params.pdl 1, every third 2
// (launched as dependent launches, and checked as such by the emulator).
func TestMLPStepMatchesReference(t *testing.T) {
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
		{"no-hidden", nn.MLP(9, 7, nil, 10), 30, 10, 7, false, "momentum-cosine adam-cosine"},
		{"deep-odd", nn.MLP(10, 10, []int{33, 17, 5}, 10), 30, 10, 6, false, "nesterov-step adam-constant-wd"},
		{"wide-256", nn.MLP(8, 8, []int{256, 20}, 10), 20, 10, 20, false, "momentum-cosine"},
		{"augmented", nn.MLP(12, 12, []int{16}, 10), 30, 10, 8, true, "sgd-constant adam-cosine"},
		{"batch-300", nn.MLP(6, 6, []int{12}, 10), 610, 10, 300, false, "adam-cosine"}, // more rows than a block has threads
		{"batch-1", nn.MLP(6, 6, []int{12, 7}, 10), 5, 10, 1, false, "momentum-cosine"},
		{"wide-inputs", nn.MLP(40, 40, []int{20}, 10), 12, 10, 6, false, "sgd-constant"}, // 1,600 inputs: more slices and tiles
		{"last-in-48", nn.MLP(8, 8, []int{48}, 10), 20, 10, 7, false, "adam-cosine"},     // the last layer in one warp, D_{L-1} by the block
	}
	for si, sh := range shapes {
		for _, r := range backendtest.Recipes {
			if sh.recipes != "" && !strings.Contains(sh.recipes, r.Name) {
				continue
			}
			t.Run(sh.name+"/"+r.Name, func(t *testing.T) {
				g, d := openEmu(t)
				// mlp_params.pdl's orders of loads, a shape each, under the
				// emulator's checker of programmatic dependent launch.
				// (On a GPU, dependent launches are as Open set them from
				// MNIST_CUDA_PDL: gpu-check's tests-pdl.)
				g.mlpPDL = int32(si % 3)
				if d != nil {
					g.dependentLaunch, d.pdlCheck = true, g.mlpPDL > 0
				}
				train := mnisttest.SyntheticDataset(sh.train, sh.spec.Rows, sh.spec.Cols, 11)
				test := mnisttest.SyntheticDataset(sh.test, sh.spec.Rows, sh.spec.Cols, 12)
				cfg := nn.TrainConfig{
					Epochs: epochs, Batch: sh.batch, Seed: 4, Shuffle: true, Norm: nn.MNISTNormalization,
					Schedule: r.Schedule, Optimizer: r.Optimizer, NoRecord: true,
				}
				if sh.augment {
					cfg.Augment = nn.DefaultAugmentation
				}
				var params, grads [2][]float32
				var history [2][]nn.EpochResult
				for i, be := range []nn.Backend{g, naive.New()} {
					tr, err := nn.NewTrainer(be, sh.spec, cfg, train, test)
					if err != nil {
						t.Fatal(err)
					}
					defer tr.Close()
					if i == 0 && d != nil {
						d.profile = map[kernel]*kernelProfile{}
					}
					if err := tr.Run(context.Background()); err != nil {
						t.Fatal(err)
					}
					if params[i], err = tr.Model.ParamsHost(); err != nil {
						t.Fatal(err)
					}
					grads[i] = make([]float32, len(params[i]))
					if err := be.Download(grads[i], tr.Model.Grads); err != nil {
						t.Fatal(err)
					}
					history[i] = tr.History
				}
				if e := backendtest.RelDiff(params[0], params[1]); !(e < 2e-5) {
					t.Errorf("weights after %d epochs: fused and reference differ by %.3g (relative norm)", epochs, e)
				}
				if e := backendtest.RelDiff(grads[0], grads[1]); !(e < 2e-4) {
					t.Errorf("the last step's gradients: fused and reference differ by %.3g (relative norm)", e)
				}
				for e := range history[0] {
					a, b := history[0][e], history[1][e]
					if math.Abs(a.TrainLoss-b.TrainLoss) > 1e-5*math.Max(1, math.Abs(b.TrainLoss)) {
						t.Errorf("epoch %d loss: %.8g fused, %.8g reference", e, a.TrainLoss, b.TrainLoss)
					}
					if a.Test.Correct != b.Test.Correct {
						t.Errorf("epoch %d test accuracy: %d correct fused, %d reference", e, a.Test.Correct, b.Test.Correct)
					}
				}
				if d == nil {
					return // on the GPU: the results are what can be compared
				}
				prof := d.profile
				d.profile = nil
				steps := epochs * ((sh.train + sh.batch - 1) / sh.batch)
				fused, want := 0, 3
				for _, k := range []kernel{kMLPFirst, kMLPRows, kMLPUpdate, kGatherAffine} {
					if p := prof[k]; p != nil {
						fused += p.launches
					}
				}
				if sh.augment {
					want = 4
				}
				if fused != want*steps {
					t.Errorf("%d fused-step launches in %d steps, want %d per step", fused, steps, want)
				}
				for _, k := range []kernel{kSGD, kAdam, kColumnSums, kGather} {
					if p := prof[k]; p != nil && k != kGather {
						t.Errorf("%s ran %d times: the steps were not all fused", k, p.launches)
					}
				}
			})
		}
	}
}

// TestMLPStepFallsBack checks that an MLP the fused step does not take (a
// layer wider than MLP_MAX_WIDTH, more than MLP_MAX_LAYERS layers) trains
// op by op, and that MLPWorkspace says why.
func TestMLPStepFallsBack(t *testing.T) {
	g, d := openEmu(t)
	if d == nil {
		t.Skip("emulator only: counts launches")
	}
	for _, c := range []struct {
		widths []int
		want   string
	}{
		{[]int{784, mlpMaxWidth + 1, 10}, "a layer of 257 units"},
		{[]int{784, 8, 8, 8, 8, 8, 8, 8, 8, 10}, "9 linear layers"},
		{[]int{784}, "1 widths"},
	} {
		if _, err := g.MLPWorkspace(c.widths, 64); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("MLPWorkspace(%v) = %v, want an error saying %q", c.widths, err, c.want)
		}
	}
	spec := nn.MLP(8, 8, []int{mlpMaxWidth + 4}, 10)
	train := mnisttest.SyntheticDataset(16, 8, 8, 1)
	cfg := nn.TrainConfig{Epochs: 1, Batch: 8, Schedule: nn.Schedule{Name: "constant", Base: 0.01}, Optimizer: nn.OptimizerConfig{Name: "sgd"}, NoRecord: true}
	tr, err := nn.NewTrainer(g, spec, cfg, train, train)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	d.profile = map[kernel]*kernelProfile{}
	if err := tr.Step(); err != nil {
		t.Fatal(err)
	}
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	prof := d.profile
	d.profile = nil
	if prof[kMLPFirst] != nil || prof[kSGD] == nil {
		t.Errorf("a %d-wide layer: want the op-by-op step, ran %v", mlpMaxWidth+4, prof)
	}
}

// TestMLPStepBadData checks that a fused step reports an order entry
// outside the data set and a label outside the classes, as Gather and
// SoftmaxCrossEntropy do.
func TestMLPStepBadData(t *testing.T) {
	for _, c := range []struct {
		name        string
		order       int32
		label       uint8
		wantInError string
		wantNaNLoss bool
	}{
		{"order", 99, 1, "outside", true},
		{"label", 0, 12, "label", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, _ := openEmu(t)
			widths, nparams, work, alloc := smallMLP(t, g, 2)
			images, labels, order := alloc(nn.Uint8, 2*16), alloc(nn.Uint8, 2), alloc(nn.Int32, 2)
			params, grads, loss, ws := alloc(nn.Float32, nparams), alloc(nn.Float32, nparams), alloc(nn.Float32, 1), alloc(nn.Float32, work)
			if err := g.Upload(labels, []uint8{c.label, 3}); err != nil {
				t.Fatal(err)
			}
			if err := g.Upload(order, []int32{c.order, 1}); err != nil {
				t.Fatal(err)
			}
			g.MLPStep(nn.MLPStep{
				Widths: widths, Rows: 2, Images: images, Labels: labels, Order: order, Scale: 1,
				Params: params, Grads: grads, Optimizer: nn.OptimizerConfig{Name: "sgd"}, LR: 0.1, Update: 1,
				Loss: loss, Work: ws,
			})
			err := g.Sync()
			if err == nil || !strings.Contains(err.Error(), c.wantInError) {
				t.Fatalf("Sync = %v, want an error mentioning %q", err, c.wantInError)
			}
			t.Log(err)
		})
	}
}

// smallMLP is the 16-8-10 MLP of the fused step's error tests: its widths,
// parameter count, scratch for batches of rows, and an allocator on g that
// fails the test when an allocation does.
func smallMLP(t *testing.T, g *Backend, rows int) ([]int, int, int, func(nn.DType, int) nn.Buffer) {
	t.Helper()
	widths := []int{16, 8, 10}
	work, err := g.MLPWorkspace(widths, rows)
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(dt nn.DType, n int) nn.Buffer {
		b, err := g.Alloc(dt, n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return widths, 8*17 + 10*9, work, alloc
}

// TestMLPStepContract checks that MLPStep refuses operands that do not fit
// the widths (nn.MLPStep.Check), with an error naming the operand, before
// anything is launched.
func TestMLPStepContract(t *testing.T) {
	g, d := openEmu(t)
	widths, nparams, work, alloc := smallMLP(t, g, 4)
	good := func() nn.MLPStep {
		return nn.MLPStep{
			Widths: widths, Rows: 4, Images: alloc(nn.Uint8, 4*16), Labels: alloc(nn.Uint8, 4), Order: alloc(nn.Int32, 4), Scale: 1,
			Params: alloc(nn.Float32, nparams), Grads: alloc(nn.Float32, nparams), Optimizer: nn.OptimizerConfig{Name: "sgd"},
			LR: 0.1, Update: 1, Loss: alloc(nn.Float32, 1), Work: alloc(nn.Float32, work),
		}
	}
	for _, c := range []struct {
		name  string
		mod   func(*nn.MLPStep)
		inErr string
	}{
		{"short params", func(s *nn.MLPStep) { s.Params = alloc(nn.Float32, nparams-1) }, "params holds"},
		{"grads type", func(s *nn.MLPStep) { s.Grads = alloc(nn.Int32, nparams) }, "grads holds int32"},
		{"short order", func(s *nn.MLPStep) { s.Start = 1 }, "order holds 4 elements"},
		{"no rows", func(s *nn.MLPStep) { s.Rows = 0 }, "rows is 0"},
		{"small work", func(s *nn.MLPStep) { s.Work = alloc(nn.Float32, work-1) }, "work holds"},
		{"momentum without state", func(s *nn.MLPStep) { s.Optimizer.Momentum = 0.9 }, "0 optimizer state buffers"},
		{"adam update 0", func(s *nn.MLPStep) { s.Optimizer = nn.OptimizerConfig{Name: "adam"}; s.Update = 0 }, "update number 0"},
		{"zero width", func(s *nn.MLPStep) { s.Widths = []int{16, 0, 10} }, "at least one unit"},
		{"prepare past the order", func(s *nn.MLPStep) { s.PrepareNext = true }, "start+2·rows"},
		{"prepare from x", func(s *nn.MLPStep) {
			s.Images, s.X, s.Y = nil, alloc(nn.Float32, 4*16), alloc(nn.Int32, 4)
			s.Prepared = true
		}, "set neither"},
		{"too wide", func(s *nn.MLPStep) {
			s.Widths = []int{16, 300, 10}
			s.Params, s.Grads = alloc(nn.Float32, 300*17+10*301), alloc(nn.Float32, 300*17+10*301)
		}, "a layer of 300 units"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g.err = nil
			s := good()
			c.mod(&s)
			before := 0
			if d != nil {
				before = d.launches
			}
			g.MLPStep(s)
			err := g.Sync()
			if err == nil || !strings.Contains(err.Error(), c.inErr) {
				t.Fatalf("MLPStep = %v, want an error containing %q", err, c.inErr)
			}
			if d != nil && d.launches != before {
				t.Errorf("%d kernels launched for a refused step", d.launches-before)
			}
		})
	}
	g.err = nil
}

// TestMLPStepChained checks nn.MLPStep's chaining: two steps where the
// first prepares the second's first-layer products (mlp_update_f32 with
// prepare) end with the same bits, weights, gradients and losses, as the
// two steps run alone (mlp_first_f32 each). The shapes take the update
// kernel's every edge: a part tile of inputs, more rows than one chunk of
// MLP_CHUNK, momentum state. A bad order entry in the prepared batch is
// reported as the step's would be.
func TestMLPStepChained(t *testing.T) {
	for _, c := range []struct {
		name   string
		widths []int
		rows   int
	}{
		{"tutorial-like", []int{144, 16, 8, 10}, 8},
		{"part-tile-two-chunks", []int{100, 24, 10}, 70},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, d := openEmu(t)
			work, err := g.MLPWorkspace(c.widths, c.rows)
			if err != nil {
				t.Fatal(err)
			}
			nparams := 0
			for l := 1; l < len(c.widths); l++ {
				nparams += c.widths[l] * (c.widths[l-1] + 1)
			}
			count := 2*c.rows + 3
			images, labels := make([]uint8, count*c.widths[0]), make([]uint8, count)
			for i := range images {
				images[i] = uint8((i*131 + i/7) % 256)
			}
			for i := range labels {
				labels[i] = uint8((i * 3) % c.widths[len(c.widths)-1])
			}
			order := make([]int32, 2*c.rows)
			for i := range order {
				order[i] = int32((i*7 + 3) % count)
			}
			init := make([]float32, nparams)
			for i := range init {
				init[i] = float32((i*37)%101-50) * 0.004
			}
			run := func(chained bool, order []int32) (params, grads, loss []float32, err error) {
				bImages, bLabels, bOrder := uploadU8(t, g, images), uploadU8(t, g, labels), uploadI32(t, g, order)
				p, gr, m := upload(t, g, init), upload(t, g, make([]float32, nparams)), upload(t, g, make([]float32, nparams))
				l, ws := upload(t, g, make([]float32, 2)), upload(t, g, make([]float32, work))
				for s := 0; s < 2; s++ {
					g.MLPStep(nn.MLPStep{
						Widths: c.widths, Rows: c.rows, Images: bImages, Labels: bLabels, Order: bOrder, Start: s * c.rows,
						Scale: 1.0 / 255, Shift: -0.1, Params: p, Grads: gr, State: []nn.Buffer{m},
						Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9}, LR: 0.05, Update: s + 1,
						Loss: l.Slice(s, 1), Work: ws, Prepared: chained && s == 1, PrepareNext: chained && s == 0,
					})
				}
				if err := g.Sync(); err != nil {
					return nil, nil, nil, err
				}
				return download(t, g, p), download(t, g, gr), download(t, g, l), nil
			}
			// Alone, chained, and chained with mlp_params.pdl's orders of
			// loads (1, 2): the same bits. With dependent launches on, the
			// backend launches mlp_rows_f32 and mlp_update_f32 with them
			// when pdl asks the kernels to wait, and only then.
			var launches [4]int
			var res [4][3][]float32
			// (On a GPU, as Open set them from MNIST_CUDA_PDL.)
			if d != nil {
				// and what the kernels touch before their wait is checked
				g.dependentLaunch, d.pdlCheck = true, true
				defer func() { g.dependentLaunch, d.pdlCheck = false, false }()
			}
			for i, v := range []struct {
				chained bool
				pdl     int32
			}{{false, 0}, {true, 0}, {true, 1}, {true, 2}} {
				if d != nil {
					d.launches, d.dependent = 0, 0
				}
				g.mlpPDL = v.pdl
				p, gr, l, err := run(v.chained, order)
				if err != nil {
					t.Fatal(err)
				}
				res[i] = [3][]float32{p, gr, l}
				if d != nil {
					launches[i] = d.launches
					if want := 4 * min(int(v.pdl), 1); d.dependent != want {
						t.Errorf("pdl %d: %d dependent launches in 2 steps, want %d", v.pdl, d.dependent, want)
					}
				}
			}
			for v := 1; v < len(res); v++ {
				for k, what := range []string{"weights", "gradients", "losses"} {
					for i := range res[0][k] {
						if math.Float32bits(res[0][k][i]) != math.Float32bits(res[v][k][i]) {
							t.Fatalf("%s[%d]: %v alone, %v chained (pdl %d)", what, i, res[0][k][i], res[v][k][i], v-1)
						}
					}
				}
			}
			if d != nil && launches[1] != launches[0]-1 {
				t.Errorf("chained: %d launches, alone %d: want one mlp_first_f32 fewer", launches[1], launches[0])
			}
			for _, pdl := range []int32{0, 1} {
				g.mlpPDL = pdl
				bad := append([]int32(nil), order...)
				bad[c.rows+1] = int32(count + 5)
				g.err = nil
				if _, _, _, err := run(true, bad); err == nil || !strings.Contains(err.Error(), "outside") {
					t.Errorf("pdl %d: a bad order entry in the prepared batch: %v, want an error saying it is outside the data set", pdl, err)
				}
				bad[1] = int32(count + 7) // in the first batch: mlp_rows_f32 and the update's early loads
				g.err = nil
				if _, _, _, err := run(true, bad); err == nil || !strings.Contains(err.Error(), "outside") {
					t.Errorf("pdl %d: a bad order entry in the first batch: %v, want an error saying it is outside the data set", pdl, err)
				}
			}
			g.mlpPDL = 0
			g.err = nil
		})
	}
}
