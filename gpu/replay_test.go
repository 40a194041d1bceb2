package gpu

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
)

// TestReplayMatchesKernelByKernel trains every recipe, MLP and CNN, for 3
// epochs twice on the emulator: kernel by kernel (NoRecord) and by
// replaying the one epoch recorded at the start (nn.HyperRecorder). The
// weights must end bitwise the same (the same kernels run in the same
// order on the same data; only where the learning rate and the update
// number, the batch's position and the loss's slot come from differs). The
// replayed run records once per run a chunk of ReplaySteps full batches
// and the epoch's remaining steps, replays the chunk at every stretch of
// the epoch and the tail once, and the host syncs of a replayed epoch stay
// within the stated limit. The replayed run's fused MLP steps wait for the
// kernel before them (mlp_params.pdl 2), as dependent launches.
func TestReplayMatchesKernelByKernel(t *testing.T) {
	const epochs = 3
	models := []struct {
		name        string
		spec        nn.Spec
		train, test int
		batch       int
		splits      int // Backend.gemmSplits: 3 splits every GEMM's K across blocks
		chunk       int // TrainConfig.ReplaySteps
		augment     bool
	}{
		// 7 steps: 3 chunks of 2 full batches, then the short last one.
		{"mlp", nn.MLP(12, 12, []int{16, 8}, 10), 50, 10, 8, 0, 2, false},
		{"mlp-augmented", nn.MLP(12, 12, []int{16, 8}, 10), 50, 10, 8, 0, 2, true},
		// 3 steps: 1 chunk of the 2 full batches, then the short one.
		{"cnn", nn.CNN(20, 20, 10), 14, 6, 5, 0, 0, false},
		{"cnn-splitk", nn.CNN(20, 20, 10), 14, 6, 5, 3, 0, false},
		// 6 full batches: 2 chunks of 3, no tail.
		{"mlp-no-tail", nn.MLP(12, 12, []int{16, 8}, 10), 48, 10, 8, 0, 3, false},
	}
	for _, m := range models {
		for _, r := range backendtest.Recipes {
			if m.name != "mlp" && r.Name != "adam-cosine" && (testing.Short() || m.name != "cnn" || r.Name != "nesterov-step") {
				continue // the cnn on the emulator takes a while: its recipe, and the other update rule
			}
			t.Run(m.name+"/"+r.Name, func(t *testing.T) {
				rows, cols := m.spec.Rows, m.spec.Cols
				train := mnisttest.SyntheticDataset(m.train, rows, cols, 5) // the last batch is short
				test := mnisttest.SyntheticDataset(m.test, rows, cols, 6)
				cfg := nn.TrainConfig{
					Epochs: epochs, Batch: m.batch, Seed: 3, Shuffle: true, Norm: nn.MNISTNormalization,
					Schedule: r.Schedule, Optimizer: r.Optimizer, ReplaySteps: m.chunk,
				}
				if m.augment {
					cfg.Augment = nn.DefaultAugmentation
				}
				var params [2][]float32
				var stats [2]emuStats
				for i, noRecord := range []bool{true, false} {
					b, d := openEmu(t) // on the GPU in TestCUDA: d is nil, nothing is counted
					b.gemmSplits = m.splits
					if d != nil {
						d.oneOrder = true // block orders are checked by the other tests; this one is about replays
					}
					if !noRecord {
						// The replays with the fused step's kernels waiting for
						// the kernel before (mlp_params.pdl 2): dependent
						// launches, checked, on the emulator; on a GPU as Open
						// set them from MNIST_CUDA_PDL.
						b.mlpPDL = 2
						if d != nil {
							b.dependentLaunch, d.pdlCheck = true, true
						}
					}
					cfg.NoRecord = noRecord
					tr, err := nn.NewTrainer(b, m.spec, cfg, train, test)
					if err != nil {
						t.Fatal(err)
					}
					defer tr.Close()
					if d != nil {
						d.resetStats()
					}
					if err := tr.Run(context.Background()); err != nil {
						t.Fatal(err)
					}
					if d != nil {
						stats[i] = d.stats
					}
					if params[i], err = tr.Model.ParamsHost(); err != nil {
						t.Fatal(err)
					}
				}
				for k := range params[0] {
					if math.Float32bits(params[0][k]) != math.Float32bits(params[1][k]) {
						t.Fatalf("parameter %d: %v kernel by kernel, %v replayed", k, params[0][k], params[1][k])
					}
				}
				if openGPU != nil {
					return // on the GPU: the weights are what can be compared
				}
				steps := (m.train + m.batch - 1) / m.batch
				k := m.chunk
				if k == 0 {
					k = nn.DefaultReplaySteps
				}
				full := m.train / m.batch
				k = min(k, full)
				chunks := full / k
				tail := steps - chunks*k
				captures, replays := 0, chunks
				if chunks > 0 {
					captures++
				}
				if tail > 0 {
					captures++
					replays++
				}
				if got := stats[1]; got.captures != captures || got.replays != epochs*replays {
					t.Errorf("replayed run: %d recordings and %d replays, want %d and %d (%d chunks of %d steps and %d more a epoch)",
						got.captures, got.replays, captures, epochs*replays, chunks, k, tail)
				}
				if got := stats[0]; got.replays != 0 {
					t.Errorf("kernel-by-kernel run replayed %d times", got.replays)
				}
				// The same kernels, but for the fused MLP's chained steps:
				// in a recording every full batch after the first starts
				// from the products the step before prepared (no
				// mlp_first_f32; not with augmentation, whose batch is in x).
				skipped := 0
				if strings.HasPrefix(m.name, "mlp") && !m.augment {
					skipped = chunks * (k - 1)
					if tail > 0 {
						skipped += max(0, full-chunks*k-1)
					}
				}
				if want := stats[0].launches - epochs*skipped; stats[1].launches != want {
					t.Errorf("kernels run: %d kernel by kernel, %d replayed, want %d (%d steps a epoch chained)", stats[0].launches, stats[1].launches, want, skipped)
				}
				// A replayed epoch waits for the device twice: once for
				// the step losses with the status word (the trainer's
				// Sync then finds nothing queued), and once for the
				// evaluation's predictions, its losses and the status
				// word (nn.DownloadAll).
				if limit := 2 * epochs; stats[1].syncs > limit {
					t.Errorf("%d host syncs in %d epochs, more than %d", stats[1].syncs, epochs, limit)
				}
				t.Logf("%d steps per epoch: %.1f kernels per training step, %d graph launches per epoch, %d host syncs in %d epochs (evaluation included)",
					steps, float64(stats[1].replayed)/float64(epochs*steps), stats[1].replays/epochs, stats[1].syncs, epochs)
			})
		}
	}
}
