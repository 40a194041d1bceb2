package gpu

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// TestStepProfile runs one training step of the tutorial MLP (784-64-32-10,
// batch 64) and of the default CNN (28×28, batch 64) kernel by kernel on
// the emulator and states what a step asks of the device: the kernel
// launches per step (the limits below); per kernel its launches, CUDA
// threads, work (FLOPs of the GEMMs, elements of the others) and share of
// the emulated step's time; and per launch, in order, the same plus the
// grid and the longest loop a thread runs (slab iterations of a GEMM
// block, elements of a grid-stride thread), which is what a GPU cannot
// hide when there are few blocks (logged; bench/RESULTS.md records them).
// On the GPU every recipe replays a whole recorded epoch as one graph
// launch (TestReplayMatchesKernelByKernel); these are the kernels inside it.
// An MLP step is the fused step's three kernels (kernels/mlp.cu); the
// CNN's is the op sequence.
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
		{"cnn-recipe", nn.CNN(28, 28, 10), nn.CNNRecipe(), 32},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, d := openEmu(t)
			cfg := c.cfg
			cfg.Batch, cfg.NoRecord = 64, true
			train := mnisttest.SyntheticDataset(64*(gpuProfileSteps+1), 28, 28, 7)
			test := mnisttest.SyntheticDataset(8, 28, 28, 8)
			tr, err := nn.NewTrainer(b, c.spec, cfg, train, test)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if err := tr.Step(); err != nil { // warm: first-use costs stay out
				t.Fatal(err)
			}
			if d == nil {
				gpuStepProfile(t, c.name, b, tr, c.maxLaunch)
				return
			}
			d.oneOrder = true // a profile, not a check: each kernel once
			d.profile, d.trace = map[kernel]*kernelProfile{}, nil
			if err := tr.Step(); err != nil {
				t.Fatal(err)
			}
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			prof, trace := d.profile, d.trace
			d.profile, d.trace = nil, nil
			launches, total := 0, 0.0
			var ks []kernel
			work := map[kernel]launchWork{}
			for k, p := range prof {
				launches += p.launches
				total += p.seconds
				ks = append(ks, k)
			}
			for _, l := range trace {
				w := work[l.k]
				lw := describeLaunch(l.emuLaunch)
				w.flops += lw.flops
				w.elements += lw.elements
				work[l.k] = w
			}
			sort.Slice(ks, func(i, j int) bool { return prof[ks[i]].seconds > prof[ks[j]].seconds })
			var sb strings.Builder
			fmt.Fprintf(&sb, "%s: %d kernel launches per training step\n", c.name, launches)
			fmt.Fprintf(&sb, "  %-22s %8s %10s %14s %7s\n", "kernel", "launches", "threads", "work", "share")
			for _, k := range ks {
				p := prof[k]
				fmt.Fprintf(&sb, "  %-22s %8d %10d %14s %6.1f%%\n", k, p.launches, p.threads, work[k].String(), 100*p.seconds/total)
			}
			fmt.Fprintf(&sb, "  per launch, in order:\n")
			fmt.Fprintf(&sb, "  %2s %-22s %-22s %6s %7s %14s %11s %7s\n", "#", "kernel", "shape", "blocks", "threads", "work", "loop/thread", "share")
			for i, l := range trace {
				w := describeLaunch(l.emuLaunch)
				blocks := int(l.grid[0]) * int(l.grid[1]) * int(l.grid[2])
				fmt.Fprintf(&sb, "  %2d %-22s %-22s %6d %7d %14s %11d %6.1f%%\n", i+1, l.k, w.shape, blocks,
					int(l.block[0]*l.block[1]*l.block[2]), w.String(), w.loop, 100*l.seconds/total)
			}
			t.Log(sb.String())
			if launches > c.maxLaunch {
				t.Errorf("%d kernel launches per step, more than %d", launches, c.maxLaunch)
			}
		})
	}
}

// gpuProfileSteps is how many steps gpuStepProfile times.
const gpuProfileSteps = 20

// timedDevice runs every launch alone: it waits for the queued work,
// launches, waits again, and keeps the launch and the wall time between.
type timedDevice struct {
	device
	trace []tracedLaunch
}

// launchDependent is timed as launch is: every kernel runs alone here.
func (d *timedDevice) launchDependent(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	return d.launch(k, grid, block, params, size)
}

func (d *timedDevice) launch(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	if err := d.device.sync(); err != nil {
		return err
	}
	start := time.Now()
	err := d.device.launch(k, grid, block, params, size)
	if err == nil {
		err = d.device.sync()
	}
	l := emuLaunch{k: k, grid: grid, block: block, params: append([]byte(nil), unsafe.Slice((*byte)(params), size)...)}
	d.trace = append(d.trace, tracedLaunch{l, time.Since(start).Seconds()})
	return err
}

// gpuStepProfile is TestStepProfile on a GPU (TestCUDA/StepProfile): it
// runs gpuProfileSteps training steps kernel by kernel with the device
// synchronised around every launch and logs, per launch, the shortest
// wall time it took (launch, run and synchronisation) beside what
// describeLaunch says of it, and the same for a 1-element relu_f32, the
// launch-and-sync cost to subtract for a kernel's own time. A replayed
// step overlaps those costs (BenchmarkStep/cuda/cnn times that).
func gpuStepProfile(t *testing.T, name string, b *Backend, tr *nn.Trainer, maxLaunch int) {
	inner := b.dev
	td := &timedDevice{device: inner}
	b.dev = td
	defer func() { b.dev = inner }()
	var best []tracedLaunch
	for s := 0; s < gpuProfileSteps; s++ {
		td.trace = nil
		if err := tr.Step(); err != nil {
			t.Fatal(err)
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if best == nil {
			best = td.trace
			continue
		}
		if len(td.trace) != len(best) {
			t.Fatalf("step %d ran %d kernels, step 1 %d", s+1, len(td.trace), len(best))
		}
		for i, l := range td.trace {
			if l.k != best[i].k {
				t.Fatalf("step %d: launch %d is %s, in step 1 %s", s+1, i+1, l.k, best[i].k)
			}
			best[i].seconds = min(best[i].seconds, l.seconds)
		}
	}
	one, err := b.Alloc(nn.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(one)
	floor := math.Inf(1)
	for s := 0; s < gpuProfileSteps; s++ {
		td.trace = nil
		b.ReLU(one, 1)
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		floor = min(floor, td.trace[0].seconds)
	}
	total := 0.0
	for _, l := range best {
		total += l.seconds
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s on the GPU: %d kernel launches per training step; launch+run+sync of each, the shortest of %d steps: %.1f µs in all; a 1-element relu_f32: %.1f µs\n",
		name, len(best), gpuProfileSteps, total*1e6, floor*1e6)
	fmt.Fprintf(&sb, "  %2s %-22s %-22s %6s %7s %14s %11s %9s %9s\n", "#", "kernel", "shape", "blocks", "threads", "work", "loop/thread", "µs", "µs-floor")
	for i, l := range best {
		w := describeLaunch(l.emuLaunch)
		blocks := int(l.grid[0]) * int(l.grid[1]) * int(l.grid[2])
		fmt.Fprintf(&sb, "  %2d %-22s %-22s %6d %7d %14s %11d %9.1f %9.1f\n", i+1, l.k, w.shape, blocks,
			int(l.block[0]*l.block[1]*l.block[2]), w.String(), w.loop, l.seconds*1e6, (l.seconds-floor)*1e6)
	}
	t.Log(sb.String())
	if len(best) > maxLaunch {
		t.Errorf("%d kernel launches per step, more than %d", len(best), maxLaunch)
	}
}

// launchWork is what one launch asks of the device, from its parameters:
// FLOPs (GEMMs: 2·m·n·k) or elements written (the other kernels), and
// the longest loop one thread runs (slab iterations per GEMM block, else
// elements per thread of the grid-stride loop, rows per warp of the
// softmax).
type launchWork struct {
	shape           string
	flops, elements int64
	loop            int
}

func (w launchWork) String() string {
	switch {
	case w.flops > 0:
		return fmt.Sprintf("%.2f MFLOP", float64(w.flops)/1e6)
	case w.elements > 0:
		return fmt.Sprintf("%.3f M elem", float64(w.elements)/1e6)
	}
	return "-"
}

// describeLaunch reads a launch's parameter struct (gpu/params_gen.go) and
// states its work.
func describeLaunch(l emuLaunch) launchWork {
	ptr := unsafe.Pointer(&l.params[0])
	threads := int64(l.grid[0]) * int64(l.grid[1]) * int64(l.grid[2]) * int64(l.block[0]*l.block[1]*l.block[2])
	perThread := func(n int64) int { return int((n + threads - 1) / threads) }
	elems := func(shape string, n int64) launchWork {
		return launchWork{shape: shape, elements: n, loop: perThread(n)}
	}
	switch l.k {
	case kGemm:
		p := (*gemmParams)(ptr)
		t := func(on int32) string {
			if on != 0 {
				return "ᵀ"
			}
			return ""
		}
		shape := fmt.Sprintf("%dx%dx%d A%s B%s", p.m, p.n, p.k, t(p.transA), t(p.transB))
		if p.splits > 1 {
			shape += fmt.Sprintf(" /%d", p.splits)
		}
		slab := gemmConfigs[p.config].slab()
		return launchWork{shape: shape, flops: 2 * int64(p.m) * int64(p.n) * int64(p.k), loop: int(p.kChunk+int32(slab)-1) / slab}
	case kGemmSplitKReduce:
		p := (*gemmParams)(ptr)
		w := elems(fmt.Sprintf("%dx%d from %d splits", p.m, p.n, p.splits), int64(p.m)*int64(p.n))
		w.loop *= int(p.splits)
		return w
	case kReLU, kReLUBackward:
		p := (*eltwiseParams)(ptr)
		return elems(fmt.Sprint(p.n), int64(p.n))
	case kSoftmaxXent:
		p := (*xentParams)(ptr)
		warps := threads / 32
		return launchWork{shape: fmt.Sprintf("%dx%d", p.rows, p.cols), elements: int64(p.rows) * int64(p.cols),
			loop: int((int64(p.rows) + warps - 1) / warps)}
	case kColumnSums:
		p := (*colsumParams)(ptr)
		return launchWork{shape: fmt.Sprintf("%dx%d", p.rows, p.cols), elements: int64(p.cols), loop: int(p.rows+colsumThreads/colsumCols-1) / (colsumThreads / colsumCols)}
	case kArgmax:
		p := (*argmaxParams)(ptr)
		return launchWork{shape: fmt.Sprintf("%dx%d", p.rows, p.cols), elements: int64(p.rows), loop: int(p.cols)}
	case kGather:
		p := (*gatherParams)(ptr)
		return elems(fmt.Sprintf("%dx%d", p.rows, p.pixels), int64(p.rows)*int64(p.pixels))
	case kGatherAffine:
		p := (*gatherAffineParams)(ptr)
		return elems(fmt.Sprintf("%dx%dx%d", p.rows, p.height, p.width), int64(p.rows)*int64(p.height)*int64(p.width))
	case kSGD, kAdam:
		p := (*optimParams)(ptr)
		return elems(fmt.Sprint(p.n), int64(p.n))
	case kIm2Col:
		p := (*convParams)(ptr)
		rows, cols := int64(p.batch)*int64(p.outH)*int64(p.outW), int64(p.c)*int64(p.kh)*int64(p.kw)
		return elems(fmt.Sprintf("%dx%d", rows, cols), rows*cols)
	case kCol2Im:
		p := (*convParams)(ptr)
		return elems(fmt.Sprintf("%dx%dx%dx%d", p.batch, p.h, p.w, p.c), int64(p.batch)*int64(p.h)*int64(p.w)*int64(p.c))
	case kMaxPool:
		p := (*poolParams)(ptr)
		return elems(fmt.Sprintf("%dx%dx%dx%d", p.batch, p.outH, p.outW, p.c), int64(p.batch)*int64(p.outH)*int64(p.outW)*int64(p.c))
	case kMaxPoolBackward:
		p := (*poolParams)(ptr)
		return elems(fmt.Sprintf("%dx%dx%dx%d", p.batch, p.h, p.w, p.c), int64(p.batch)*int64(p.h)*int64(p.w)*int64(p.c))
	}
	return launchWork{shape: "-"} // the fused MLP step's kernels: see kernels/mlp.cu
}
