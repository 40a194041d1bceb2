package cpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
	"github.com/mnist-go/mnist/nn/naive"
)

// allPaths returns every kernel path to test: the ones this CPU runs
// (assembly, then "go") and the reference kernels shaped like AVX-512 and
// AVX2, which run the GEMM driver as the assembly does on any CPU.
func allPaths() []*kernelSet {
	return append(kernelPaths(), refKernels(16, []int{0, 16, 12, 8, 6}, 16, 4, true), refKernels(8, []int{0, 12, 6, 4}, 12, 4, false))
}

// newForced returns a backend whose ops all run on kernel set ks.
func newForced(ks *kernelSet, opts ...Option) *Backend {
	b := New(opts...)
	b.forceKernels = ks
	return b
}

func TestKernelPathsAvailable(t *testing.T) {
	paths := kernelPaths()
	var names []string
	for _, ks := range paths {
		names = append(names, ks.name)
	}
	t.Logf("kernel paths on this CPU: %v; default %q", names, defaultKernels.name)
	if paths[len(paths)-1] != &goKernels {
		t.Errorf("the pure-Go path is not the last resort: %v", names)
	}
	if chooseKernels("go") != &goKernels || chooseKernels("no such path") != paths[0] {
		t.Error("chooseKernels does not honour a name, or does not fall back to the fastest")
	}
	if got := newForced(&goKernels).KernelPath(); got != "go" {
		t.Errorf("KernelPath of a forced go backend = %q", got)
	}
}

// TestConformanceKernelPaths runs the whole conformance suite on every
// kernel path: AVX-512, AVX2 (where this CPU has them), pure Go, and the
// GEMM driver on the reference kernels shaped like each ISA (which run on
// any CPU). The default path also runs in cpu_test.go with one and three
// threads.
func TestConformanceKernelPaths(t *testing.T) {
	for _, ks := range allPaths() {
		t.Run(ks.name, func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) nn.Backend { return newForced(ks) })
		})
	}
}

// TestConformanceWaysForced runs the suite with every GEMM forced through
// each of its ways (where the shape allows it: listed and sparseT need
// op(A) = Aᵀ and op(B) = B, sparseT a plain product), on three threads so
// that chunks split unevenly.
func TestConformanceWaysForced(t *testing.T) {
	if testing.Short() {
		t.Skip("the default choices are covered by TestConformanceKernelPaths")
	}
	// The fastest assembly set, the reference kernels shaped like AVX-512
	// and the pure-Go set (the other sets run every way in TestGemmWays).
	sets := []*kernelSet{refKernels(16, []int{0, 16, 12, 8, 6}, 16, 4, true), &goKernels}
	if asm := simdKernelSets(); len(asm) > 0 {
		sets = append(asm[:1:1], sets...)
	}
	for _, ks := range sets {
		for _, p := range gemmWays {
			t.Run(ks.name+"/"+p.String(), func(t *testing.T) {
				backendtest.Run(t, func(t *testing.T) nn.Backend {
					b := newForced(ks, WithThreads(3), WithSpin(0))
					b.forceWay = &p
					return b
				})
			})
		}
	}
}

// TestGemmWays forces each way of the GEMM driver on shapes that exercise
// partial vectors, tile edges, K blocks and the padding of D, with every
// transpose and epilogue, on every kernel set, and compares with the
// reference.
func TestGemmWays(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 9))
	// {9, 300, 900} and {5, 304, 870}: D over sparseWholeBytes, so that
	// the sparse way takes K in blocks (and transposes S = Aᵀ a block at a
	// time, or whole on three threads when D needs no padding).
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {13, 40, 2*denseKC + 3}, {7, 70, 16}, {64, 64, 784}, {64, 784, 64}, {40, 20, 3}, {9, 300, 900}, {5, 304, 870}}
	for _, ks := range allPaths() {
		for _, p := range gemmWays {
			for _, threads := range []int{1, 3} {
				b := newForced(ks, WithThreads(threads))
				b.forceWay = &p
				ref := naive.New()
				for si, sh := range shapes {
					m, n, k := sh[0], sh[1], sh[2]
					for ti, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
						v := (si + ti) % 4
						g := nn.Gemm{TransA: tr[0], TransB: tr[1], M: m, N: n, K: k, Alpha: []float32{1, 0.5, 1, -1}[v], Beta: []float32{0, 1, 0.25, 0}[v],
							ReLU: v == 2}
						a, bb, c0 := randSparse(r, m*k), randSparse(r, k*n), randSparse(r, m*n)
						bias, mask := randSparse(r, n), randSparse(r, m*n)
						got := runOne(t, b, g, a, bb, c0, bias, mask, v == 1 || v == 2, v == 3)
						want := runOne(t, ref, g, a, bb, c0, bias, mask, v == 1 || v == 2, v == 3)
						for i := range want {
							if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i])))*math.Sqrt(float64(k)) {
								t.Fatalf("%s %v, %d threads, %dx%dx%d trans %v: C[%d] = %g, want %g", ks.name, p, threads, m, n, k, tr, i, got[i], want[i])
							}
						}
					}
				}
				b.Close()
			}
		}
	}
}

// TestGemmSplitK checks the split of a long K into parts, by the dense way
// (gemmJob.splitK) and by the sparse way in K blocks (S = Aᵀ): on the
// shapes of a convolution's weight and bias gradients and others with
// every transpose (D padded or transposed a K block at a time by each
// part), on every kernel set, it is used, agrees with the reference, and
// gives the same bits on one thread and three; a product with β or an
// epilogue is not split, nor a sparse one with S = A.
func TestGemmSplitK(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 20))
	dense, sparse := wayDense, waySparse
	cases := []struct {
		g     nn.Gemm
		way   *gemmWay
		split bool
	}{
		{nn.Gemm{TransA: true, M: 32, N: 25, K: 36864, Alpha: 1}, &dense, true},  // conv1's weight gradient
		{nn.Gemm{M: 1, N: 32, K: 36864, Alpha: 1}, &dense, true},                 // its bias gradient
		{nn.Gemm{TransB: true, M: 5, N: 20, K: 9000, Alpha: -0.5}, &dense, true}, // D transposed by each part
		{nn.Gemm{TransA: true, TransB: true, M: 17, N: 9, K: 2*splitKPart + 517, Alpha: 2}, &dense, true},
		{nn.Gemm{M: 3, N: 7, K: splitKMinK - 1, Alpha: 1}, &dense, false},
		{nn.Gemm{M: 3, N: 7, K: splitKMinK, Alpha: 1, Beta: 0.5}, &dense, false},
		{nn.Gemm{M: 3, N: 7, K: splitKMinK, Alpha: 1, ReLU: true}, &dense, false},
		// D over sparseWholeBytes, so that the sparse way takes K in blocks.
		{nn.Gemm{TransA: true, M: 7, N: 80, K: 2*sparseSplitKPart + 300, Alpha: 1}, &sparse, true}, // conv2's weight gradient
		{nn.Gemm{TransA: true, TransB: true, M: 7, N: 80, K: 2*sparseSplitKPart + 300, Alpha: 0.5}, &sparse, true},
		{nn.Gemm{TransA: true, M: 7, N: 77, K: 2*sparseSplitKPart + 300, Alpha: 1}, &sparse, true}, // D padded
		{nn.Gemm{TransA: true, M: 7, N: 80, K: 2*sparseSplitKPart + 300, Alpha: 1, Beta: 0.5}, &sparse, false},
		{nn.Gemm{M: 7, N: 80, K: 2*sparseSplitKPart + 300, Alpha: 1}, &sparse, false},
	}
	for _, ks := range allPaths() {
		ref := naive.New()
		for _, c := range cases {
			g := c.g
			a, bm, c0 := randSparse(r, g.M*g.K), randSparse(r, g.K*g.N), randSparse(r, g.M*g.N)
			var runs [][]float32
			for _, threads := range []int{1, 3} {
				b := newForced(ks, WithThreads(threads))
				b.forceWay = c.way
				got := runOne(t, b, g, a, bm, c0, nil, nil, false, false)
				if split := b.gemmJob.parts > 0; split != c.split {
					t.Errorf("%s %dx%dx%d β %g: split into %d parts, want split %v", ks.name, g.M, g.N, g.K, g.Beta, b.gemmJob.parts, c.split)
				}
				b.Close()
				runs = append(runs, got)
			}
			want := runOne(t, ref, g, a, bm, c0, nil, nil, false, false)
			for i := range want {
				if d := math.Abs(float64(runs[0][i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i])))*math.Sqrt(float64(g.K)) {
					t.Fatalf("%s %dx%dx%d: C[%d] = %g, want %g", ks.name, g.M, g.N, g.K, i, runs[0][i], want[i])
				}
				if math.Float32bits(runs[0][i]) != math.Float32bits(runs[1][i]) {
					t.Fatalf("%s %dx%dx%d: C[%d] = %g on one thread, %g on three", ks.name, g.M, g.N, g.K, i, runs[0][i], runs[1][i])
				}
			}
		}
	}
}

// TestGemmChoice checks that the cost model sends the tutorial network's
// first layer to the sparse ways on MNIST-like operands, and dense products
// to the dense way.
func TestGemmChoice(t *testing.T) {
	sets := append(simdKernelSets(), &goKernels)
	if len(sets) == 1 {
		sets = append(sets, refKernels(16, []int{0, 16, 12, 8, 6}, 16, 4, true))
	}
	r := rand.New(rand.NewPCG(5, 9))
	images := func(rows int) []float32 { // strokes: 19% nonzero, in runs
		x := make([]float32, rows*784)
		for i := 0; i < rows; i++ {
			for p := 0; p < 784; p++ {
				if row, col := p/28, p%28; row >= 6 && row < 22 && col >= 8+r.IntN(3) && col < 14+r.IntN(3) {
					x[i*784+p] = 0.5
				}
			}
		}
		return x
	}
	fill := func(n int, density float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			if r.Float64() < density {
				x[i] = 1
			}
		}
		return x
	}
	for _, ks := range sets {
		for _, c := range []struct {
			name           string
			a, b           []float32
			m, n, k        int
			transA, transB bool
			want           []gemmWay
		}{
			{"forward, input layer", images(64), fill(64*784, 1), 64, 64, 784, false, true, []gemmWay{waySparse}},
			{"weight gradient, input layer", fill(64*64, 0.5), images(64), 64, 784, 64, true, false, []gemmWay{waySparseT, wayListed}},
			{"dense", fill(64*784, 1), fill(64*784, 1), 64, 64, 784, false, true, []gemmWay{wayDense}},
			{"tiny", fill(16, 0.1), fill(16, 0.1), 4, 4, 4, false, false, []gemmWay{wayDense}},
		} {
			b := newForced(ks, WithThreads(1))
			g := &b.gemmJob
			*g = gemmJob{b: b, ks: ks, m: c.m, n: c.n, k: c.k, lanes: ks.lanes}
			g.rs, g.kst = c.k, 1
			if c.transA {
				g.rs, g.kst = 1, c.m
			}
			g.nvec = (c.n + ks.lanes - 1) / ks.lanes
			g.npad = g.nvec * ks.lanes
			got, _ := g.choose(c.a, c.b, c.transA, c.transB)
			ok := false
			for _, w := range c.want {
				ok = ok || got == w
			}
			if !ok {
				t.Errorf("%s, %s: path %v, want one of %v", ks.name, c.name, got, c.want)
			}
			b.Close()
		}
	}
}
func randSparse(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if r.IntN(2) == 0 {
			x[i] = r.Float32()*2 - 1
		}
	}
	return x
}

// runOne runs g on b with the given operands (bias and mask when asked) and returns C.
func runOne(t *testing.T, b nn.Backend, g nn.Gemm, a, bm, c0, bias, mask []float32, useBias, useMask bool) []float32 {
	t.Helper()
	up := func(x []float32) nn.Buffer {
		buf, err := b.Alloc(nn.Float32, len(x))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Upload(buf, x); err != nil {
			t.Fatal(err)
		}
		return buf
	}
	g.A, g.B, g.C = up(a), up(bm), up(c0)
	if useBias {
		g.Bias = up(bias)
	}
	if useMask {
		g.Mask = up(mask)
	}
	b.Gemm(g)
	out := make([]float32, len(c0))
	if err := b.Download(out, g.C); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestChoosePath checks that the tutorial network's hot GEMMs take the
