package cpu

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// opTimer is an nn.Backend that times every op of the backend it wraps,
// by name (GEMMs by shape). It is not an nn.Recorder, so the trainer runs
// its steps op by op through it.
type opTimer struct {
	nn.Backend
	times map[string][]time.Duration
	clock func() time.Duration
}

func (o *opTimer) timed(name string, f func()) {
	t := o.clock()
	f()
	o.times[name] = append(o.times[name], o.clock()-t)
}

// processCPU is the process's user and system CPU time, all threads.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wallClock is the time since the process started.
func wallClock() time.Duration { return time.Since(processStart) }

var processStart = time.Now()

func gemmName(g nn.Gemm) string {
	op := "NN"
	switch {
	case g.TransA && g.TransB:
		op = "TT"
	case g.TransA:
		op = "TN"
	case g.TransB:
		op = "NT"
	}
	return fmt.Sprintf("gemm %dx%dx%d %s", g.M, g.N, g.K, op)
}

func (o *opTimer) Gemm(g nn.Gemm)          { o.timed(gemmName(g), func() { o.Backend.Gemm(g) }) }
func (o *opTimer) ReLU(x nn.Buffer, n int) { o.timed("relu", func() { o.Backend.ReLU(x, n) }) }
func (o *opTimer) ReLUBackward(grad, out nn.Buffer, n int) {
	o.timed("relu backward", func() { o.Backend.ReLUBackward(grad, out, n) })
}
func (o *opTimer) SoftmaxCrossEntropy(loss, grad, logits, labels nn.Buffer, rows, cols int) {
	o.timed("softmax", func() { o.Backend.SoftmaxCrossEntropy(loss, grad, logits, labels, rows, cols) })
}
func (o *opTimer) ColumnSums(dst, src nn.Buffer, rows, cols int) {
	o.timed("column sums", func() { o.Backend.ColumnSums(dst, src, rows, cols) })
}
func (o *opTimer) Gather(x, y, images, labels, order nn.Buffer, start, rows, pixels int, scale, shift float32) {
	o.timed("gather", func() { o.Backend.Gather(x, y, images, labels, order, start, rows, pixels, scale, shift) })
}
func (o *opTimer) Im2Col(cols, x nn.Buffer, g nn.ConvGeom) {
	o.timed(fmt.Sprintf("im2col C=%d", g.C), func() { o.Backend.Im2Col(cols, x, g) })
}
func (o *opTimer) Col2Im(dx, cols nn.Buffer, g nn.ConvGeom) {
	o.timed(fmt.Sprintf("col2im C=%d", g.C), func() { o.Backend.Col2Im(dx, cols, g) })
}
func (o *opTimer) MaxPool2D(y, argmax, x nn.Buffer, g nn.PoolGeom) {
	o.timed(fmt.Sprintf("maxpool C=%d", g.C), func() { o.Backend.MaxPool2D(y, argmax, x, g) })
}
func (o *opTimer) MaxPool2DBackward(dx, dy, argmax nn.Buffer, g nn.PoolGeom) {
	o.timed(fmt.Sprintf("maxpool backward C=%d", g.C), func() { o.Backend.MaxPool2DBackward(dx, dy, argmax, g) })
}
func (o *opTimer) SGD(params, grads, velocity nn.Buffer, lr, momentum, weightDecay float32, nesterov bool) {
	o.timed("sgd", func() { o.Backend.SGD(params, grads, velocity, lr, momentum, weightDecay, nesterov) })
}
func (o *opTimer) Adam(params, grads, m, v nn.Buffer, lr, beta1, beta2, eps, weightDecay float32, t int) {
	o.timed("adam", func() { o.Backend.Adam(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, t) })
}

// BenchmarkCNNStep times training steps of the cnn's default recipe
// (nn.CNNRecipe: Adam, batch 64, normalised inputs) on the real MNIST
// training set, on the default kernel path and the benchmark's GOMAXPROCS
// threads (-cpu 1,2 compares one thread with two). On one thread the ops
// are timed in thread CPU time, which a busy machine does not inflate; on
// two, in wall time. It reports GFLOP/s
// (nn.Spec.FLOPsPerSample, the GEMMs' arithmetic) and %peak, against the
// FMA peak of one core (measured at the start, fmaPeakGFLOPS) times the
// threads, cpu-ms/step (the process's CPU time per step, all threads: what
// a busy machine inflates least; bench/pytorch/cnn_step.py reports the
// same for PyTorch), plus the median µs per step of every op with -v (the per-op
// profile table of bench/RESULTS.md) and the ms per 938-step epoch those
// medians sum to.
func BenchmarkCNNStep(b *testing.B) {
	train, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Train)
	if err != nil {
		b.Fatal(err)
	}
	test, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Test)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("cpu", func(b *testing.B) {
		back := New()
		defer back.Close()
		timer := &opTimer{Backend: back, times: map[string][]time.Duration{}, clock: wallClock}
		clockName := "wall time"
		if back.pool.workers == 1 && runtime.GOOS == "linux" {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			timer.clock, clockName = threadClock, "thread CPU time"
		}
		spec := nn.CNN(train.Rows, train.Cols, 10)
		cfg := nn.CNNRecipe()
		tr, err := nn.NewTrainer(timer, spec, cfg, train, test)
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		for range 5 { // warm up: scratch, caches, the pool's mode
			if err := tr.Step(); err != nil {
				b.Fatal(err)
			}
		}
		clear(timer.times)
		start, cpu0 := time.Now(), processCPU()
		for b.Loop() {
			if err := tr.Step(); err != nil {
				b.Fatal(err)
			}
		}
		if err := back.Sync(); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start)
		b.ReportMetric((processCPU()-cpu0).Seconds()*1e3/float64(b.N), "cpu-ms/step")
		gflops := spec.FLOPsPerSample() * float64(b.N*cfg.Batch) / elapsed.Seconds() / 1e9
		b.ReportMetric(gflops, "GFLOP/s")
		b.ReportMetric(float64(back.pool.workers), "threads")
		peak := fmaPeakGFLOPS(defaultKernels) * float64(back.pool.workers)
		if peak > 0 {
			b.ReportMetric(100*gflops/peak, "%peak")
		}
		type row struct {
			name string
			us   float64
		}
		var rows []row
		var total float64
		for name, ds := range timer.times {
			per := float64(len(ds)) / float64(b.N)
			slices.Sort(ds)
			us := ds[len(ds)/2].Seconds() * 1e6 * per
			rows = append(rows, row{name, us})
			total += us
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].us > rows[j].us })
		b.ReportMetric(total*938/1e6, "s/epoch(sum-of-medians)")
		if testing.Verbose() {
			b.Logf("%d threads, peak %.1f GFLOP/s; median µs (%s) per step by op (share of the sum):", back.pool.workers, peak, clockName)
			for _, r := range rows {
				b.Logf("| %s | %.1f | %.1f%% |", r.name, r.us, 100*r.us/total)
			}
		}
	})
}

// BenchmarkConvOps times the cnn's data-movement ops at batch 64 on one
// thread, each against its reference loop ("ref") and im2col and col2im
// also with conv.go's Go loops ("go") instead of the kernel set's runs,
// on random data. The
// cpu-µs/op metric is the thread's CPU time (see threadClock), which
// survives a busy machine better than ns/op.
func BenchmarkConvOps(b *testing.B) {
	r := rand.New(rand.NewPCG(20, 4))
	fill := func(n int) []float32 {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	for _, g := range []nn.ConvGeom{
		{Batch: 64, H: 28, W: 28, C: 1, KH: 5, KW: 5, Stride: 1},
		{Batch: 64, H: 12, W: 12, C: 32, KH: 5, KW: 5, Stride: 1},
	} {
		x, cols := fill(g.InputLen()), fill(g.Rows()*g.Cols())
		for _, ks := range []*kernelSet{defaultKernels, &goKernels} {
			path := "" // the default set's runs; "/go": conv.go's Go loops
			if ks == &goKernels {
				path = "/go"
			}
			b.Run(fmt.Sprintf("im2col/C=%d%s", g.C, path), func(b *testing.B) {
				j := im2colJob{ks: ks, cols: cols, x: x, g: g}
				j.planes, j.runs = oneWorker(g)
				cpuLoop(b, func() { runInline(&j) })
			})
			b.Run(fmt.Sprintf("col2im/C=%d%s", g.C, path), func(b *testing.B) {
				j := col2imJob{ks: ks, dx: x, cols: cols, g: g}
				j.planes, j.runs = oneWorker(g)
				cpuLoop(b, func() { runInline(&j) })
			})
		}
		b.Run(fmt.Sprintf("col2im/C=%d/ref", g.C), func(b *testing.B) {
			j := col2imJob{dx: x, cols: cols, g: g}
			cpuLoop(b, func() {
				for c := 0; c < g.Batch*g.H; c++ {
					j.row(c)
				}
			})
		})
	}
	for _, g := range []nn.PoolGeom{{Batch: 64, H: 24, W: 24, C: 32, Size: 2, Stride: 2}, {Batch: 64, H: 8, W: 8, C: 64, Size: 2, Stride: 2}} {
		outLen := g.Batch * g.OutH() * g.OutW() * g.C
		x, y, arg := fill(g.InputLen()), fill(outLen), make([]int32, outLen)
		for _, backward := range []bool{false, true} {
			name := fmt.Sprintf("maxpool/C=%d", g.C)
			if backward {
				name = fmt.Sprintf("maxpool-backward/C=%d", g.C)
			}
			j := newPoolJob(defaultKernels, backward, x, y, arg, g)
			b.Run(name, func(b *testing.B) {
				cpuLoop(b, func() { runInline(&j) })
			})
			b.Run(name+"/ref", func(b *testing.B) {
				cpuLoop(b, func() {
					for n := 0; n < g.Batch; n++ {
						j.image(n)
					}
				})
			})
		}
	}
}

// cpuLoop runs f b.N times on a locked thread and reports its thread CPU
// time per call in µs.
func cpuLoop(b *testing.B, f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f() // warm up
	b.ResetTimer()
	t := threadClock()
	for b.Loop() {
		f()
	}
	b.ReportMetric(float64(threadClock()-t)/1e3/float64(b.N), "cpu-µs/op")
}

// gemmCapture is an nn.Backend that keeps a copy of the operands of the
// first call of every large GEMM shape (M·N·K ≥ 1M) once armed.
type gemmCapture struct {
	nn.Backend
	armed bool
	calls map[string]capturedGemm
	names []string
}

type capturedGemm struct {
	g                nn.Gemm
	a, b, bias, mask []float32
	cLen             int
}

func (c *gemmCapture) Gemm(g nn.Gemm) {
	name := gemmName(g)
	if _, ok := c.calls[name]; c.armed && !ok && g.M*g.N*g.K >= 1<<20 {
		get := func(buf nn.Buffer) []float32 {
			if buf == nil {
				return nil
			}
			v := make([]float32, buf.Len())
			if err := c.Backend.Download(v, buf); err != nil {
				panic(err)
			}
			return v
		}
		c.calls[name] = capturedGemm{g: g, a: get(g.A), b: get(g.B), bias: get(g.Bias), mask: get(g.Mask), cLen: g.C.Len()}
		c.names = append(c.names, name)
	}
	c.Backend.Gemm(g)
}

// BenchmarkCNNGemms times the cnn's large GEMMs on one thread (thread CPU
// time, cpu-µs/op) on the operands of a real training step (the default
// recipe on real MNIST, after 20 steps), with the cost model's way ("auto")
// and with each way forced.
func BenchmarkCNNGemms(b *testing.B) {
	train, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Train)
	if err != nil {
		b.Fatal(err)
	}
	test, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Test)
	if err != nil {
		b.Fatal(err)
	}
	capture := &gemmCapture{Backend: New(WithThreads(1)), calls: map[string]capturedGemm{}}
	defer capture.Backend.Close()
	tr, err := nn.NewTrainer(capture, nn.CNN(train.Rows, train.Cols, 10), nn.CNNRecipe(), train, test)
	if err != nil {
		b.Fatal(err)
	}
	for i := range 21 {
		capture.armed = i == 20
		if err := tr.Step(); err != nil {
			b.Fatal(err)
		}
	}
	tr.Close()
	for _, name := range capture.names {
		cg := capture.calls[name]
		ways := []*gemmWay{nil}
		for _, p := range gemmWays {
			ways = append(ways, &p)
		}
		for _, way := range ways {
			wname := "auto"
			if way != nil {
				wname = way.String()
			}
			b.Run(strings.ReplaceAll(name, " ", "_")+"/"+wname, func(b *testing.B) {
				back := New(WithThreads(1))
				defer back.Close()
				g := cg.g
				if way != nil {
					if !(&gemmJob{}).allowed(*way, g.TransA, g.TransB) || (*way == waySparseT && g.Beta != 0) {
						b.Skip("way not allowed")
					}
					back.forceWay = way
				}
				up := func(v []float32) nn.Buffer {
					if v == nil {
						return nil
					}
					buf, err := back.Wrap(v)
					if err != nil {
						b.Fatal(err)
					}
					return buf
				}
				g.A, g.B, g.Bias, g.Mask = up(cg.a), up(cg.b), up(cg.bias), up(cg.mask)
				g.C = up(make([]float32, cg.cLen))
				cpuLoop(b, func() { back.Gemm(g) })
				if err := back.Sync(); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}
