package cpu_test

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
	"github.com/mnist-go/mnist/nn/naive"
)

// gemmShape is one of the tutorial network's GEMMs (784-64-32-10, batch 64)
// with the density of its operands in training: the input batch is 19%
// nonzero (MNIST; density 0 below stands for a batch of mnistLike images),
// ReLU outputs and masked gradients about half.
type gemmShape struct {
	name           string
	m, n, k        int
	transA, transB bool
	densA, densB   float64
	bias, relu     bool
	mask           bool
}

var gemmShapes = []gemmShape{
	{name: "fwd1_64x64x784_NT", m: 64, n: 64, k: 784, transB: true, densA: 0, densB: 1, bias: true, relu: true},
	{name: "fwd2_64x32x64_NT", m: 64, n: 32, k: 64, transB: true, densA: 0.5, densB: 1, bias: true, relu: true},
	{name: "fwd3_64x10x32_NT", m: 64, n: 10, k: 32, transB: true, densA: 0.5, densB: 1, bias: true},
	{name: "dW1_64x784x64_TN", m: 64, n: 784, k: 64, transA: true, densA: 0.5, densB: 0},
	{name: "dW2_32x64x64_TN", m: 32, n: 64, k: 64, transA: true, densA: 0.5, densB: 0.5},
	{name: "dW3_10x32x64_TN", m: 10, n: 32, k: 64, transA: true, densA: 1, densB: 0.5},
	{name: "dx1_64x64x32_NN", m: 64, n: 64, k: 32, densA: 0.5, densB: 1, mask: true},
	{name: "dx2_64x32x10_NN", m: 64, n: 32, k: 10, densA: 1, densB: 1, mask: true},
	{name: "dense_64x64x784_NT", m: 64, n: 64, k: 784, transB: true, densA: 1, densB: 1},
	{name: "dense_256x256x256_NN", m: 256, n: 256, k: 256, densA: 1, densB: 1},
}

// randomMatrix returns n normal values, each zero with probability
// 1−density; density 0 means a batch of mnistLike images scaled to [0, 1].
func randomMatrix(r *rand.Rand, n int, density float64) []float32 {
	x := make([]float32, n)
	if density == 0 {
		img := make([]uint8, 784)
		for i := 0; i+784 <= n; i += 784 {
			clear(img)
			strokes(r, img)
			for j, v := range img {
				x[i+j] = float32(v) / 255
			}
		}
		return x
	}
	for i := range x {
		if r.Float64() < density {
			x[i] = float32(r.NormFloat64())
		}
	}
	return x
}

// setupGemm uploads a shape's operands to b.
func setupGemm(tb testing.TB, b nn.Backend, s gemmShape) nn.Gemm {
	r := rand.New(rand.NewPCG(1, 2))
	up := func(x []float32) nn.Buffer {
		buf, err := b.Alloc(nn.Float32, len(x))
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.Upload(buf, x); err != nil {
			tb.Fatal(err)
		}
		return buf
	}
	g := nn.Gemm{TransA: s.transA, TransB: s.transB, M: s.m, N: s.n, K: s.k, Alpha: 1, ReLU: s.relu,
		A: up(randomMatrix(r, s.m*s.k, s.densA)), B: up(randomMatrix(r, s.k*s.n, s.densB)), C: up(make([]float32, s.m*s.n))}
	if s.bias {
		g.Bias = up(randomMatrix(r, s.n, 1))
	}
	if s.mask {
		g.Mask = up(randomMatrix(r, s.m*s.n, 0.5))
	}
	return g
}

// BenchmarkGemm times the tutorial network's GEMMs. GFLOP/s counts the
// dense 2·M·N·K even where zeros are skipped, so it compares directly with
// a dense implementation.
func BenchmarkGemm(b *testing.B) {
	for _, be := range benchBackends() {
		for _, s := range gemmShapes {
			if be.name == "naive" && s.m*s.n*s.k > 1<<22 {
				continue
			}
			b.Run(be.name+"/"+s.name, func(b *testing.B) {
				back := be.open()
				defer back.Close()
				g := setupGemm(b, back, s)
				back.Gemm(g)
				for b.Loop() {
					back.Gemm(g)
				}
				if err := back.Sync(); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

type benchBackend struct {
	name string
	open func() nn.Backend
}

// benchBackends returns the backends to compare: the default one (the
// fastest kernel path, all threads), one thread on each kernel path this
// CPU runs (cpu-avx512-1thread, cpu-avx2-1thread, cpu-go-1thread), and the
// naive reference.
func benchBackends() []benchBackend {
	bs := []benchBackend{
		{"cpu", func() nn.Backend { return cpu.New() }},
		{"cpu-1thread", func() nn.Backend { return cpu.New(cpu.WithThreads(1)) }},
	}
	for _, path := range cpu.KernelPaths() {
		bs = append(bs, benchBackend{"cpu-" + path + "-1thread", func() nn.Backend {
			b, _ := cpu.NewWithKernels(path, cpu.WithThreads(1))
			return b
		}})
	}
	return append(bs, benchBackend{"naive", func() nn.Backend { return naive.New() }})
}

// The tutorial's training set: 60000 images, 938 batches of 64 per epoch; the
// benchmarks gather from a data set of that size, so from main memory.
const (
	stepsPerEpoch = 938
	batch         = 64
	benchImages   = 60000
)

// mnistLike returns n images that look like MNIST to a sparse kernel (a
// few thick pen strokes in the centre of a 28×28 field: 18% of the pixels
// are nonzero, in runs, against MNIST's 19%) and random labels. With
// MNIST_IMAGES set to an IDX image file (train-images-idx3-ubyte, optionally
// .gz), its first n images are used instead.
func mnistLike(tb testing.TB, n int) (images, labels []uint8) {
	r := rand.New(rand.NewPCG(3, 4))
	labels = make([]uint8, n)
	for i := range labels {
		labels[i] = uint8(r.IntN(10))
	}
	if path := os.Getenv("MNIST_IMAGES"); path != "" {
		images, err := readIDXImages(path, n)
		if err != nil {
			tb.Fatal(err)
		}
		return images, labels
	}
	images = make([]uint8, n*784)
	for i := 0; i < n; i++ {
		strokes(r, images[i*784:(i+1)*784])
	}
	return images, labels
}

// strokes draws 3 to 5 pen strokes of radius 2 into a 28×28 image.
func strokes(r *rand.Rand, img []uint8) {
	for s := 3 + r.IntN(3); s > 0; s-- {
		x, y := 8+12*r.Float64(), 6+16*r.Float64()
		dir := 2 * math.Pi * r.Float64()
		for step := 7 + r.IntN(10); step > 0; step-- {
			for py := int(y) - 2; py <= int(y)+2; py++ {
				for px := int(x) - 2; px <= int(x)+2; px++ {
					d := math.Hypot(float64(px)-x, float64(py)-y)
					if v := 255 * min(1, max(0, 2-d)); v >= 1 && uint8(v) > img[py*28+px] {
						img[py*28+px] = uint8(v)
					}
				}
			}
			dir += 0.6 * (r.Float64() - 0.5)
			x = min(22, max(5, x+math.Cos(dir)))
			y = min(23, max(4, y+math.Sin(dir)))
		}
	}
}

// readIDXImages reads the first n 28×28 images of an IDX file.
func readIDXImages(path string, n int) ([]uint8, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	if strings.HasSuffix(path, ".gz") {
		if r, err = gzip.NewReader(r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if binary.BigEndian.Uint32(hdr[0:]) != 0x803 || binary.BigEndian.Uint32(hdr[8:]) != 28 || binary.BigEndian.Uint32(hdr[12:]) != 28 {
		return nil, fmt.Errorf("%s: not an IDX file of 28×28 images", path)
	}
	if have := int(binary.BigEndian.Uint32(hdr[4:])); have < n {
		return nil, fmt.Errorf("%s: %d images, need %d", path, have, n)
	}
	images := make([]uint8, n*784)
	if _, err := io.ReadFull(r, images); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return images, nil
}

// mlpStep prepares the tutorial network (784-64-32-10, batch 64) with a data
// set of n images in backend memory and returns a function that runs
// training step i.
func mlpStep(tb testing.TB, back nn.Backend, n int) (*backendtest.MLP, func(i int)) {
	m, err := backendtest.NewMLP(back, []int{784, 64, 32, 10}, batch)
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.SetParams(m.InitParams(1)); err != nil {
		tb.Fatal(err)
	}
	imgs, labs := mnistLike(tb, n)
	order := make([]int32, n)
	for i, v := range rand.New(rand.NewPCG(5, 6)).Perm(n) {
		order[i] = int32(v)
	}
	up := func(t nn.DType, n int, data any) nn.Buffer {
		buf, err := back.Alloc(t, n)
		if err == nil {
			err = back.Upload(buf, data)
		}
		if err != nil {
			tb.Fatal(err)
		}
		return buf
	}
	images, labels, ord := up(nn.Uint8, len(imgs), imgs), up(nn.Uint8, len(labs), labs), up(nn.Int32, len(order), order)
	return m, func(i int) {
		m.Step(images, labels, ord, (i*batch)%(n-batch+1), 0.005)
	}
}

// BenchmarkMLPStep times one training step of the tutorial network built
// from backend ops: Gather from a uint8 data set, three forward GEMMs with
// bias and ReLU, softmax cross-entropy, the backward GEMMs with masks and
// column sums, and SGD over one flat parameter buffer. ms/epoch is 938 steps.
// The backends on one thread also report cpu-µs/op, the CPU time of the
// (locked) thread per step, which survives a busy machine better than ns/op.
func BenchmarkMLPStep(b *testing.B) {
	for _, be := range benchBackends() {
		b.Run(be.name, func(b *testing.B) {
			oneThread := be.name == "naive" || strings.HasSuffix(be.name, "-1thread")
			if oneThread {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			back := be.open()
			defer back.Close()
			_, step := mlpStep(b, back, benchImages)
			step(0)
			i := 0
			t := cpu.ThreadClock()
			for b.Loop() {
				step(i)
				i++
			}
			if err := back.Sync(); err != nil {
				b.Fatal(err)
			}
			if oneThread {
				b.ReportMetric(float64(cpu.ThreadClock()-t)/1e3/float64(b.N), "cpu-µs/op")
			}
			per := b.Elapsed().Seconds() / float64(b.N)
			b.ReportMetric(batch/per, "samples/s")
			b.ReportMetric(per*stepsPerEpoch*1e3, "ms/epoch")
		})
	}
}

// TestAllocs checks that, once warm, a GEMM at each of the network's shapes
// and a whole training step allocate nothing, on every kernel path.
func TestAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts are measured in full runs")
	}
	for _, path := range cpu.KernelPaths() {
		back, _ := cpu.NewWithKernels(path)
		for _, s := range gemmShapes {
			g := setupGemm(t, back, s)
			back.Gemm(g)
			if n := testing.AllocsPerRun(20, func() { back.Gemm(g) }); n != 0 {
				t.Errorf("%s: Gemm %s: %v allocations per call", path, s.name, n)
			}
		}
		_, step := mlpStep(t, back, 256)
		step(0)
		i := 0
		if n := testing.AllocsPerRun(20, func() { step(i); i++ }); n != 0 {
			t.Errorf("%s: training step: %v allocations per step", path, n)
		}
		if err := back.Sync(); err != nil {
			t.Fatal(err)
		}
		back.Close()
	}
}

func ExampleNew() {
	b := cpu.New(cpu.WithThreads(1))
	defer b.Close()
	x, _ := b.Alloc(nn.Float32, 4)
	b.Upload(x, []float32{-1, 2, -3, 4})
	b.ReLU(x, 4)
	out := make([]float32, 4)
	if err := b.Download(out, x); err != nil {
		fmt.Println(err)
	}
	fmt.Println(out, b.Name())
	// Output: [0 2 0 4] cpu
}
