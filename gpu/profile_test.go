package gpu

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// TestStepProfile runs one training step of the tutorial MLP (784-64-32-10,
// batch 64) and of the default CNN (28×28, batch 64) kernel by kernel on
// the emulator and states what a step asks of the device: the kernel
// launches per step (the limits below), and per kernel its launches, CUDA
// threads and share of the emulated step's time (logged; bench/RESULTS.md
// records them). On the GPU every recipe replays a whole recorded epoch
// as one graph launch (TestReplayMatchesKernelByKernel); these are the
// kernels inside it. An MLP step is the fused step's three kernels
// (kernels/mlp.cu); the CNN's is the op sequence.
func TestStepProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("a full-size cnn step on the emulator takes a few seconds: skipped with -short")
	}
	for _, c := range []struct {
		name      string
		spec      nn.Spec
		cfg       nn.TrainConfig
		maxLaunch int // kernel launches per training step, at most
	}{
		{"mlp-tutorial", nn.MLP(28, 28, []int{64, 32}, 10), nn.TrainConfig{Epochs: 1, Batch: 64,
			Schedule: nn.Schedule{Name: "constant", Base: 0.005}, Optimizer: nn.OptimizerConfig{Name: "sgd"}}, 3},
		{"mlp-default", nn.MLP(28, 28, []int{64, 32}, 10), nn.TrainConfig{Epochs: 1, Batch: 64, Shuffle: true,
			Norm: nn.MNISTNormalization, Schedule: nn.Schedule{Name: "cosine", Base: 0.05, Epochs: 10},
			Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9}}, 3},
		{"cnn-recipe", nn.CNN(28, 28, 10), nn.CNNRecipe(), 40},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, d := openEmu(t)
			if d == nil {
				t.Skip("emulator only")
			}
			d.oneOrder = true // a profile, not a check: each kernel once
			cfg := c.cfg
			cfg.Batch, cfg.NoRecord = 64, true
			train := mnisttest.SyntheticDataset(128, 28, 28, 7)
			test := mnisttest.SyntheticDataset(8, 28, 28, 8)
			tr, err := nn.NewTrainer(b, c.spec, cfg, train, test)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if err := tr.Step(); err != nil { // warm: first-use costs stay out
				t.Fatal(err)
			}
			d.profile = map[kernel]*kernelProfile{}
			if err := tr.Step(); err != nil {
				t.Fatal(err)
			}
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			prof := d.profile
			d.profile = nil
			launches, total := 0, 0.0
			var ks []kernel
			for k, p := range prof {
				launches += p.launches
				total += p.seconds
				ks = append(ks, k)
			}
			sort.Slice(ks, func(i, j int) bool { return prof[ks[i]].seconds > prof[ks[j]].seconds })
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s: %d kernel launches per training step\n", c.name, launches)
			fmt.Fprintf(&sb, "  %-22s %8s %10s %7s\n", "kernel", "launches", "threads", "share")
			for _, k := range ks {
				p := prof[k]
				fmt.Fprintf(&sb, "  %-22s %8d %10d %6.1f%%\n", k, p.launches, p.threads, 100*p.seconds/total)
			}
			t.Log(sb.String())
			if launches > c.maxLaunch {
				t.Errorf("%d kernel launches per step, more than %d", launches, c.maxLaunch)
			}
		})
	}
}
