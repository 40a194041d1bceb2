package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// The micro-kernels against the reference loops in their doc comments, for
// every length around the unrolling, including empty rows.

func refDot(s, panel []float32) (c [4]float64) {
	for k := range s {
		for j := 0; j < 4; j++ {
			c[j] += float64(s[k]) * float64(panel[k*4+j])
		}
	}
	return
}

func TestDotPanel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for n := 0; n < 20; n++ {
		s := make([]float32, n)
		panel := make([]float32, n*4+3) // longer than needed
		for i := range s {
			s[i] = r.Float32() - 0.5
		}
		for i := range panel {
			panel[i] = r.Float32() - 0.5
		}
		c0, c1, c2, c3 := dotPanel(s, panel)
		want := refDot(s, panel)
		for j, got := range []float32{c0, c1, c2, c3} {
			if math.Abs(float64(got)-want[j]) > 1e-5 {
				t.Errorf("n=%d: c%d = %g, want %g", n, j, got, want[j])
			}
		}
	}
}

func TestSparseDotPanel(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	for _, kc := range []int{1, 2, 3, 7, 64, 65} {
		for trial := 0; trial < 20; trial++ {
			row := make([]float32, kc)
			for i := range row {
				if r.IntN(3) == 0 {
					row[i] = r.Float32() - 0.5
				}
			}
			panel := make([]float32, kc*4)
			for i := range panel {
				panel[i] = r.Float32() - 0.5
			}
			nz := make([]nonzero, kc)
			nz = nz[:compact(row, kc, 1, nz)]
			c0, c1, c2, c3 := sparseDotPanel(nz, panel)
			want := refDot(row, panel) // zeros contribute nothing
			for j, got := range []float32{c0, c1, c2, c3} {
				if math.Abs(float64(got)-want[j]) > 1e-5 {
					t.Fatalf("kc=%d: c%d = %g, want %g", kc, j, got, want[j])
				}
			}
		}
	}
	// An offset beyond the panel is a bug in the caller: it must not read past it.
	defer func() {
		if recover() == nil {
			t.Error("sparseDotPanel with an offset beyond the panel did not panic")
		}
	}()
	sparseDotPanel([]nonzero{{0, 1}, {8, 1}}, make([]float32, 8))
}

func TestCompact(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	for _, n := range []int{0, 1, 3, 4, 5, 8, 31, 64, 65} {
		for _, stride := range []int{1, 3} {
			for trial := 0; trial < 10; trial++ {
				s := make([]float32, n*stride)
				for k := 0; k < n; k++ {
					switch r.IntN(6) {
					case 0:
						s[k*stride] = r.Float32() + 0.1
					case 1:
						s[k*stride] = negZero // a zero all the same
					case 2:
						if trial == 0 {
							s[k*stride] = nan // kept: NaN is not zero
						}
					}
				}
				nz := make([]nonzero, n)
				got := nz[:compact(s, n, stride, nz)]
				var want []nonzero
				for k := 0; k < n; k++ {
					if v := s[k*stride]; v != 0 {
						want = append(want, nonzero{uint32(k * 4), v})
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("n=%d stride=%d: compact = %v, want %v", n, stride, got, want)
				}
			}
		}
	}
}

// TestGemmPaths forces each way of computing a GEMM (dense or sparse rows,
// direct or transposed) on shapes that exercise the edges of panels, K
// blocks (K > maxKC accumulates into C across blocks) and Q blocks, and
// compares with the reference.
func TestGemmPaths(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {5, 2*maxKC/3*2 + 1, 13}, {4, 403, 2100}, {3, 7, 2*maxKC + 5}}
	for _, p := range []path{denseDirect, sparseDirect, denseTransposed, sparseTransposed} {
		for _, threads := range []int{1, 3} {
			b := New(WithThreads(threads))
			b.forcePath = &p
			ref := naive.New()
			for si, sh := range shapes {
				m, n, k := sh[0], sh[1], sh[2]
				for ti, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
					v := (si + ti) % 4
					g := nn.Gemm{TransA: tr[0], TransB: tr[1], M: m, N: n, K: k, Alpha: []float32{1, 0.5, 1, -1}[v], Beta: []float32{0, 1, 0.25, 0}[v],
						ReLU: v == 2, Mask: nil}
					a, bb, c0 := randSparse(r, m*k), randSparse(r, k*n), randSparse(r, m*n)
					bias, mask := randSparse(r, n), randSparse(r, m*n)
					got := runOne(t, b, g, a, bb, c0, bias, mask, v == 1, v == 3)
					want := runOne(t, ref, g, a, bb, c0, bias, mask, v == 1, v == 3)
					for i := range want {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i])))*math.Sqrt(float64(k)) {
							t.Fatalf("path %d, %d threads, %dx%dx%d trans %v: C[%d] = %g, want %g", p, threads, m, n, k, tr, i, got[i], want[i])
						}
					}
				}
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
// sparse paths on MNIST-like operands and the dense path on dense ones.
func TestChoosePath(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	fill := func(n int, density float64) []float32 {
		x := make([]float32, n)
		for i := range x {
			if r.Float64() < density {
				x[i] = 1
			}
		}
		return x
	}
	for _, c := range []struct {
		name           string
		m, n, k        int
		transA, transB bool
		densA, densB   float64
		want           path
	}{
		{"forward, input layer", 64, 64, 784, false, true, 0.19, 1, sparseDirect},
		{"weight gradient, input layer", 64, 784, 64, true, false, 0.5, 0.19, sparseTransposed},
		{"dense", 64, 64, 784, false, true, 1, 1, denseDirect},
		{"tiny", 4, 4, 4, false, false, 0, 0, denseDirect},
	} {
		got := choosePath(fill(c.m*c.k, c.densA), fill(c.k*c.n, c.densB), c.m, c.n, c.k, c.transA, c.transB)
		if got != c.want {
			t.Errorf("%s: path %d, want %d", c.name, got, c.want)
		}
	}
}
