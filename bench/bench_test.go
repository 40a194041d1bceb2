package bench

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// The benchmarks run every entry of Names() (registered backends, naive,
// gorgonia); an entry that cannot run here (cuda without a GPU) skips with
// the reason. Work queued on a device is synchronised before the timer stops.
//
//	go test ./bench -run '^$' -bench . -benchtime 1x    every entry once
//	go test ./bench -run '^$' -bench 'Epoch/cpu'         one entry, properly timed

var realMNIST struct {
	once        sync.Once
	train, test *mnist.Dataset
	err         error
}

// realData returns the real MNIST sets (see mnisttest.RealDataDir: it skips
// the benchmark, saying why, when they cannot be had).
func realData(b *testing.B) (train, test *mnist.Dataset) {
	b.Helper()
	dir := mnisttest.RealDataDir(b)
	realMNIST.once.Do(func() {
		realMNIST.train, realMNIST.test, realMNIST.err = mnist.LoadBoth(dir)
	})
	if realMNIST.err != nil {
		b.Fatal(realMNIST.err)
	}
	return realMNIST.train, realMNIST.test
}

// openRunner opens entry name, skipping the benchmark when it cannot run here.
func openRunner(b *testing.B, name string, cfg Config, train, test *mnist.Dataset) Runner {
	b.Helper()
	r, err := Open(name, cfg, train, test)
	if err != nil {
		b.Skipf("%s cannot run here: %v", name, err)
	}
	b.Cleanup(func() {
		if err := r.Close(); err != nil {
			b.Error(err)
		}
	})
	return r
}

// BenchmarkGEMM times the matrix products of one training step of the
// tutorial's network and of the cnn (batch 64, forward and backward) and a
// large square product, reporting GFLOP/s.
func BenchmarkGEMM(b *testing.B) {
	shapes := ModelGEMMShapes(nn.MLP(28, 28, nn.DefaultHidden, mnist.DigitClasses), 64)
	for _, s := range append(ModelGEMMShapes(nn.CNN(28, 28, mnist.DigitClasses), 64), SquareGEMM) {
		if !slices.Contains(shapes, s) {
			shapes = append(shapes, s)
		}
	}
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			g, err := OpenGEMM(name)
			if err != nil {
				b.Skipf("%s cannot run here: %v", name, err)
			}
			defer g.Close()
			for _, s := range shapes {
				b.Run(s.String(), func(b *testing.B) {
					if err := g.Prepare(s); err != nil {
						b.Fatal(err)
					}
					if err := g.Run(1); err != nil { // warm-up: first launch, page faults
						b.Fatal(err)
					}
					b.ResetTimer()
					if err := g.Run(b.N); err != nil { // syncs before returning
						b.Fatal(err)
					}
					b.StopTimer()
					b.ReportMetric(s.FLOPs()*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		})
	}
}

// benchConfigs are the workloads BenchmarkStep and BenchmarkEpoch run:
// the tutorial's mlp and the cnn.
func benchConfigs(train *mnist.Dataset) []Config {
	return []Config{TutorialConfig(train.Rows, train.Cols, nn.DefaultHidden), CNNConfig(train.Rows, train.Cols)}
}

// BenchmarkStep times single training steps of batch 64 on the real
// training set (the steps wrap into new epochs), reporting samples/s.
func BenchmarkStep(b *testing.B) {
	train, test := realData(b)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			for _, cfg := range benchConfigs(train) {
				b.Run(cfg.Spec.String(), func(b *testing.B) {
					r := openRunner(b, name, cfg, train, test)
					if err := r.Reset(); err != nil {
						b.Fatal(err)
					}
					if err := r.Step(); err != nil { // warm-up
						b.Fatal(err)
					}
					if err := r.Sync(); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := r.Step(); err != nil {
							b.Fatal(err)
						}
					}
					if err := r.Sync(); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					reportThroughput(b, cfg, b.N*cfg.Batch)
				})
			}
		})
	}
}

// BenchmarkEpoch times whole epochs (60000 samples) on the real training
// set, reporting samples/s. Each epoch starts from where the last ended.
// The naive backend skips the cnn: an epoch of it takes about an hour
// (BenchmarkStep/naive/cnn times its steps).
func BenchmarkEpoch(b *testing.B) {
	train, test := realData(b)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			for _, cfg := range benchConfigs(train) {
				b.Run(cfg.Spec.String(), func(b *testing.B) {
					if name == Naive && cfg.Spec.Model == "cnn" {
						b.Skip("naive: a cnn epoch takes about an hour; see BenchmarkStep/naive/cnn")
					}
					r := openRunner(b, name, cfg, train, test)
					if err := r.Reset(); err != nil {
						b.Fatal(err)
					}
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						if err := r.Epoch(context.Background()); err != nil { // syncs before returning
							b.Fatal(err)
						}
					}
					b.StopTimer()
					reportThroughput(b, cfg, b.N*train.Len())
				})
			}
		})
	}
}

func reportThroughput(b *testing.B, cfg Config, samples int) {
	perSec := float64(samples) / b.Elapsed().Seconds()
	b.ReportMetric(perSec, "samples/s")
	b.ReportMetric(perSec*cfg.Spec.FLOPsPerSample()/1e9, "GFLOP/s")
}
