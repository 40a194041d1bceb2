package cpu

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
)

// The kernel paths' benchmarks. GFLOP/s counts the dense 2·M·N·K of a
// GEMM even where zeros are skipped, so that it compares with a dense
// implementation; "%peak" divides it by the FMA peak of one core on the
// same kernel set (BenchmarkFMAPeak), measured at the start of each
// benchmark. Run them with -cpu 1 on a quiet machine: the kernels run on
// one thread (WithThreads(1)).

// fmaPeakGFLOPS measures the FMA peak of one core on kernel set ks, in
// GFLOP/s: the best of a few runs of its register-only FMA loop.
func fmaPeakGFLOPS(ks *kernelSet) float64 {
	if ks.fmaPeak == nil || !ks.simd() || ks.fmaPeakVectors == 0 {
		return 0
	}
	const n = 1 << 18
	best := time.Duration(1 << 62)
	for range 20 {
		t := time.Now()
		ks.fmaPeak(n)
		best = min(best, time.Since(t))
	}
	return float64(n*ks.fmaPeakVectors*2*ks.lanes) / best.Seconds() / 1e9
}

// BenchmarkFMAPeak reports the FMA throughput of one core per kernel set:
// two FMA pipes of 16 lanes at the measured clock, on Zen 5.
func BenchmarkFMAPeak(b *testing.B) {
	for _, ks := range simdKernelSets() {
		b.Run(ks.name, func(b *testing.B) {
			const n = 1 << 16
			for b.Loop() {
				ks.fmaPeak(n)
			}
			flops := float64(b.N) * n * float64(ks.fmaPeakVectors*2*ks.lanes)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// benchImages returns rows MNIST images scaled to [0, 1]: the real files
// when they are at hand, else strokes like mnistLike's.
func benchImages(tb testing.TB, rows int) []float32 {
	x := make([]float32, rows*784)
	if train, err := mnist.Load(mnisttest.RealDataDir(tb), mnist.Train); err == nil {
		for i := range x {
			x[i] = float32(train.Images[1000*784+i]) / 255
		}
		return x
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		if p := i % 784; p/28 >= 6 && p/28 < 22 && p%28 >= 9+r.IntN(2) && p%28 < 13+r.IntN(3) {
			x[i] = 0.8
		}
	}
	return x
}

// BenchmarkKernelPaths times the tutorial network's GEMMs at batch 64 on
// every kernel path, with the cost model's choice of way ("auto") and with
// each way forced, on operands of training's densities: real MNIST images
// (19% nonzero), ReLU outputs and masked gradients (half zero). cpu-µs/op
// is the thread CPU time per GEMM (see cpuLoop).
func BenchmarkKernelPaths(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 3))
	dense := func(n int, d float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			if r.Float64() < d {
				x[i] = float32(r.NormFloat64())
			}
		}
		return x
	}
	x := benchImages(b, 64)
	shapes := []struct {
		name             string
		m, n, k          int
		transA, transB   bool
		a, bm            []float32
		bias, relu, mask bool
	}{
		{"fwd1_64x64x784_NT", 64, 64, 784, false, true, x, dense(64*784, 1), true, true, false},
		{"fwd2_64x32x64_NT", 64, 32, 64, false, true, dense(64*64, 0.5), dense(32*64, 1), true, true, false},
		{"fwd3_64x10x32_NT", 64, 10, 32, false, true, dense(64*32, 0.5), dense(10*32, 1), true, false, false},
		{"dW3_10x32x64_TN", 10, 32, 64, true, false, dense(64*10, 1), dense(64*32, 0.5), false, false, false},
		{"dx2_64x32x10_NN", 64, 32, 10, false, false, dense(64*10, 1), dense(10*32, 1), false, false, true},
		{"dW2_32x64x64_TN", 32, 64, 64, true, false, dense(64*32, 0.5), dense(64*64, 0.5), false, false, false},
		{"dx1_64x64x32_NN", 64, 64, 32, false, false, dense(64*32, 0.5), dense(32*64, 1), false, false, true},
		{"dW1_64x784x64_TN", 64, 784, 64, true, false, dense(64*64, 0.5), x, false, false, false},
		{"dense_64x64x784_NT", 64, 64, 784, false, true, dense(64*784, 1), dense(64*784, 1), false, false, false},
	}
	for _, ks := range kernelPaths() {
		peak := fmaPeakGFLOPS(ks)
		ways := []*gemmWay{nil}
		for _, p := range gemmWays {
			ways = append(ways, &p)
		}
		for _, s := range shapes {
			for _, way := range ways {
				name := "auto"
				if way != nil {
					name = way.String()
					if (*way == wayListed || *way == waySparseT) && !(s.transA && !s.transB) {
						continue
					}
				}
				b.Run(fmt.Sprintf("%s/%s/%s", ks.name, s.name, name), func(b *testing.B) {
					back := New(WithThreads(1))
					defer back.Close()
					back.forceKernels = ks
					back.forceWay = way
					up := func(v []float32) nn.Buffer {
						buf, err := back.Wrap(v)
						if err != nil {
							b.Fatal(err)
						}
						return buf
					}
					g := nn.Gemm{TransA: s.transA, TransB: s.transB, M: s.m, N: s.n, K: s.k, Alpha: 1,
						A: up(s.a), B: up(s.bm), C: up(make([]float32, s.m*s.n)), ReLU: s.relu}
					if s.bias {
						g.Bias = up(dense(s.n, 1))
					}
					if s.mask {
						g.Mask = up(dense(s.m*s.n, 0.5))
					}
					cpuLoop(b, func() { back.Gemm(g) })
					if err := back.Sync(); err != nil {
						b.Fatal(err)
					}
					gflops := 2 * float64(s.m*s.n*s.k) * float64(b.N) / b.Elapsed().Seconds() / 1e9
					b.ReportMetric(gflops, "GFLOP/s")
					if peak > 0 {
						b.ReportMetric(100*gflops/peak, "%peak")
					}
				})
			}
		}
	}
}

// BenchmarkStepOps times one training step of the tutorial network
// (784-64-32-10, batch 64, plain SGD) on the real MNIST training set, op by
// op, on each kernel path and one thread: the metrics are the median
// microseconds per step of each op (gather, fwd1…, softmax, dW3…, colsums
// for the three bias gradients together, sgd) and ms/epoch for 938 steps.
func BenchmarkStepOps(b *testing.B) {
	train, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Train)
	if err != nil {
		b.Fatal(err)
	}
	for _, ks := range kernelPaths() {
		b.Run(ks.name, func(b *testing.B) {
			back := New(WithThreads(1))
			defer back.Close()
			back.forceKernels = ks
			m, err := backendtest.NewMLP(back, []int{784, 64, 32, 10}, 64)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.SetParams(m.InitParams(1)); err != nil {
				b.Fatal(err)
			}
			wrap := func(v any) nn.Buffer {
				buf, err := back.Wrap(v)
				if err != nil {
					b.Fatal(err)
				}
				return buf
			}
			order := make([]int32, train.Len())
			for i, v := range rand.New(rand.NewPCG(5, 6)).Perm(train.Len()) {
				order[i] = int32(v)
			}
			images, labels, ord := wrap(train.Images), wrap(train.Labels), wrap(order)
			times := map[string][]time.Duration{}
			var names []string
			timed := func(name string, f func()) {
				t := time.Now()
				f()
				if _, ok := times[name]; !ok {
					names = append(names, name)
				}
				times[name] = append(times[name], time.Since(t))
			}
			L := len(m.W)
			steps := train.Len() / 64
			step := func(s int) {
				timed("gather", func() { m.Gather(images, labels, ord, (s%steps)*64, 1.0/255, 0) })
				for l := range m.W {
					timed(fmt.Sprintf("fwd%d", l+1), func() {
						back.Gemm(nn.Gemm{TransB: true, M: 64, N: m.Sizes[l+1], K: m.Sizes[l], Alpha: 1,
							A: m.Act[l], B: m.W[l], C: m.Act[l+1], Bias: m.B[l], ReLU: l+1 < L})
					})
				}
				timed("softmax", func() { back.SoftmaxCrossEntropy(m.Loss, m.DAct[L], m.Act[L], m.Labels, 64, m.Sizes[L]) })
				for l := L - 1; l >= 0; l-- {
					in, out := m.Sizes[l], m.Sizes[l+1]
					timed(fmt.Sprintf("dW%d", l+1), func() {
						back.Gemm(nn.Gemm{TransA: true, M: out, N: in, K: 64, Alpha: 1, A: m.DAct[l+1], B: m.Act[l], C: m.DW[l]})
					})
					timed("colsums", func() { back.ColumnSums(m.DB[l], m.DAct[l+1], 64, out) })
					if l > 0 {
						timed(fmt.Sprintf("dx%d", l), func() {
							back.Gemm(nn.Gemm{M: 64, N: in, K: out, Alpha: 1, A: m.DAct[l+1], B: m.W[l], C: m.DAct[l], Mask: m.Act[l]})
						})
					}
				}
				timed("sgd", func() { back.SGD(m.Params, m.Grads, nil, 0.005, 0, 0, false) })
			}
			for s := range 100 { // warm up: scratch and caches
				step(s)
			}
			clear(times)
			names = names[:0]
			i := 100
			for b.Loop() {
				step(i)
				i++
			}
			if err := back.Sync(); err != nil {
				b.Fatal(err)
			}
			var total float64
			for _, name := range names {
				ds := times[name]
				per := len(ds) / b.N // colsums: three calls per step
				slices.Sort(ds)
				med := ds[len(ds)/2].Seconds() * 1e6 * float64(per)
				total += med
				b.ReportMetric(med, name+"-µs")
			}
			b.ReportMetric(total*float64(steps)/1e3, "ms/epoch(sum-of-medians)")
		})
	}
}
