package cpu_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// BenchmarkMLPTrainerStep times nn.Trainer.Step of the tutorial network
// (784-64-32-10, batch 64) on the real training set, as `mnist train` and
// `mnist bench` run it: with the tutorial recipe (raw pixels, plain SGD)
// and the default mlp recipe (normalised pixels, momentum), each as fused
// steps (nn.MLPStepper) and op by op (NoFuse), on 1 and 2 threads.
// ms/epoch is 938 steps; on one thread cpu-µs/op is the locked thread's
// CPU time per step, which survives a busy machine better than ns/op.
func BenchmarkMLPTrainerStep(b *testing.B) {
	train, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Train)
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"tutorial", "mlp"} {
		r, ok := nn.FindRecipe(name)
		if !ok {
			b.Fatalf("no recipe %q", name)
		}
		for _, way := range []string{"fused", "ops"} {
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%s/threads=%d", name, way, threads), func(b *testing.B) {
					if threads == 1 {
						runtime.LockOSThread()
						defer runtime.UnlockOSThread()
					}
					be := cpu.New(cpu.WithThreads(threads), cpu.WithFusedMLP(way == "fused"))
					defer be.Close()
					cfg := r.Config
					cfg.NoFuse = way == "ops"
					cfg.NoRecord = true
					tr, err := nn.NewTrainer(be, nn.MLP(train.Rows, train.Cols, r.Hidden, train.Classes), cfg, train, train)
					if err != nil {
						b.Fatal(err)
					}
					defer tr.Close()
					for range 20 { // warm-up: scratch, caches, the mode selector's first probes
						if err := tr.Step(); err != nil {
							b.Fatal(err)
						}
					}
					t := cpu.ThreadClock()
					for b.Loop() {
						if err := tr.Step(); err != nil {
							b.Fatal(err)
						}
					}
					if err := be.Sync(); err != nil {
						b.Fatal(err)
					}
					if threads == 1 {
						b.ReportMetric(float64(cpu.ThreadClock()-t)/1e3/float64(b.N), "cpu-µs/op")
					}
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)*float64(tr.StepsPerEpoch())*1e3, "ms/epoch")
				})
			}
		}
	}
}
