package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// These tests run the real kernels, compiled for the CPU by package emu,
// through the real Backend code, and compare with the naive reference
// backend. Every output sits between guard values that must not change.

const guard = 8 // guard elements on each side of an output

var guardValue = float32(-12345.5)

// upload allocates len(data)+2·guard elements on b, fills the guards with
// guardValue, uploads data between them and returns the inner view.
func upload(t testing.TB, b nn.Backend, data []float32) nn.Buffer {
	t.Helper()
	buf, err := b.Alloc(nn.Float32, len(data)+2*guard)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]float32, len(data)+2*guard)
	for i := range all {
		all[i] = guardValue
	}
	copy(all[guard:], data)
	if err := b.Upload(buf, all); err != nil {
		t.Fatal(err)
	}
	return buf.Slice(guard, len(data))
}

func uploadI32(t testing.TB, b nn.Backend, data []int32) nn.Buffer {
	t.Helper()
	buf, err := b.Alloc(nn.Int32, len(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(buf, data); err != nil {
		t.Fatal(err)
	}
	return buf
}

func uploadU8(t testing.TB, b nn.Backend, data []uint8) nn.Buffer {
	t.Helper()
	buf, err := b.Alloc(nn.Uint8, len(data))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(buf, data); err != nil {
		t.Fatal(err)
	}
	return buf
}

// download returns the view's n elements after checking its guards: view
// must come from upload.
func download(t testing.TB, b nn.Backend, view nn.Buffer) []float32 {
	t.Helper()
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	n := view.Len()
	all := make([]float32, n+2*guard)
	var root nn.Buffer
	switch v := view.(type) {
	case *buffer:
		root = &buffer{owner: v.owner, alloc: v.alloc, ptr: v.alloc.ptr, n: n + 2*guard, dtype: nn.Float32}
	default:
		root = nil
	}
	if root == nil {
		// naive buffer: its views are host slices; read through Download.
		out := make([]float32, n)
		if err := b.Download(out, view); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if err := b.Download(all, root); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < guard; i++ {
		if all[i] != guardValue || all[guard+n+i] != guardValue {
			t.Fatalf("guard values around the output changed: %v ... %v", all[:guard], all[guard+n:])
		}
	}
	return all[guard : guard+n]
}

func downloadI32(t testing.TB, b nn.Backend, buf nn.Buffer) []int32 {
	t.Helper()
	out := make([]int32, buf.Len())
	if err := b.Download(out, buf); err != nil {
		t.Fatal(err)
	}
	return out
}

func randF32(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// closeTo fails when |got-want| > atol + rtol·|want| anywhere.
func closeTo(t testing.TB, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.IsNaN(g) || math.Abs(g-w) > atol+rtol*math.Abs(w) {
			t.Fatalf("%s[%d] = %v, want %v (first of %d values)", what, i, g, w, len(got))
		}
	}
}

// both runs op on the emulated GPU backend and on the naive reference.
type both struct {
	gpu, ref nn.Backend
	emu      *emuDevice
	t        testing.TB
}

func newBoth(t testing.TB) *both {
	g, d := openEmu(t)
	return &both{gpu: g, ref: naive.New(), emu: d, t: t}
}

func TestGemmEmu(t *testing.T) {
	type shape struct{ m, n, k int }
	shapes := []shape{
		{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {65, 31, 130}, {8, 8, 0},
		// The tutorial's shapes: forward, weight gradients, input gradients.
		{64, 64, 784}, {64, 32, 64}, {64, 10, 32},
		{10, 32, 64}, {32, 64, 64}, {64, 784, 64},
		{64, 32, 10}, {64, 64, 32},
	}
	if testing.Short() {
		shapes = shapes[:5]
	}
	r := rand.New(rand.NewPCG(1, 2))
	for _, reverse := range []bool{false, true} {
		for _, s := range shapes {
			for cfg := -1; cfg < len(gemmConfigs); cfg++ {
				big := s.m*s.n*s.k > 64*64*64
				if big && (cfg >= 0 || reverse) {
					continue // the emulator is slow; the small shapes cover every config and order
				}
				for tr := 0; tr < 4; tr++ {
					ta, tb := tr&1 != 0, tr&2 != 0
					name := fmt.Sprintf("%dx%dx%d/cfg%d/ta=%v/tb=%v/rev=%v", s.m, s.n, s.k, cfg, ta, tb, reverse)
					t.Run(name, func(t *testing.T) {
						x := newBoth(t)
						if x.emu != nil {
							x.emu.lib.SetReverse(reverse)
							defer x.emu.lib.SetReverse(false)
						} else if reverse {
							t.Skip("thread order is the emulator's")
						}
						x.gpu.(*Backend).gemmConfig = cfg
						a := randF32(r, s.m*s.k)
						bm := randF32(r, s.k*s.n)
						c := randF32(r, s.m*s.n)
						bias := randF32(r, s.n)
						mask := randF32(r, s.m*s.n)
						variants := []nn.Gemm{
							{Alpha: 1},
							{Alpha: 0.5, Beta: 2, ReLU: true},
							{Alpha: -1, Beta: 1, Bias: nil, ReLU: false, Mask: nil},
						}
						for vi, v := range variants {
							if big && vi != 1 {
								continue
							}
							var outs [2][]float32
							for i, be := range []nn.Backend{x.gpu, x.ref} {
								g := v
								g.TransA, g.TransB, g.M, g.N, g.K = ta, tb, s.m, s.n, s.k
								g.A, g.B, g.C = upload(t, be, a), upload(t, be, bm), upload(t, be, c)
								if vi == 1 {
									g.Bias = upload(t, be, bias)
								}
								if vi == 2 {
									g.Mask = upload(t, be, mask)
								}
								be.Gemm(g)
								outs[i] = download(t, be, g.C)
							}
							closeTo(t, fmt.Sprintf("variant %d: C", vi), outs[0], outs[1], 1e-4, 1e-4)
						}
					})
				}
			}
		}
	}
}

func TestGemmBetaZeroIgnoresNaN(t *testing.T) {
	b, _ := openEmu(t)
	nan := float32(math.NaN())
	a := upload(t, b, []float32{1, 2, 3, 4})
	c := upload(t, b, []float32{nan, nan, nan, nan})
	b.Gemm(nn.Gemm{M: 2, N: 2, K: 2, Alpha: 1, A: a, B: a, C: c})
	closeTo(t, "C", download(t, b, c), []float32{7, 10, 15, 22}, 0, 0)
}

func TestElementwiseEmu(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 31, 257, 5000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			x := newBoth(t)
			data := randF32(r, n)
			grad := randF32(r, n)
			out := randF32(r, n)
			out[0] = 0
			var res [2][3][]float32
			for i, be := range []nn.Backend{x.gpu, x.ref} {
				xs := upload(t, be, data)
				be.ReLU(xs, n-1) // the last element must stay as it is
				g := upload(t, be, grad)
				be.ReLUBackward(g, upload(t, be, out), n)
				res[i][0] = download(t, be, xs)
				res[i][1] = download(t, be, g)
			}
			closeTo(t, "ReLU", res[0][0], res[1][0], 0, 0)
			closeTo(t, "ReLUBackward", res[0][1], res[1][1], 0, 0)
		})
	}
}

func TestSoftmaxCrossEntropyEmu(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	// Class counts of data sets other than MNIST too (issue 18): EMNIST
	// Letters 26, Balanced 47, and the largest, 256.
	for _, s := range []struct{ rows, cols int }{{1, 1}, {64, 10}, {3, 40}, {100, 3}, {0, 10}, {33, 26}, {17, 47}, {9, 256}, {300, 10}, {2100, 3}} {
		for _, withGrad := range []bool{true, false} {
			t.Run(fmt.Sprintf("%dx%d/grad=%v", s.rows, s.cols, withGrad), func(t *testing.T) {
				x := newBoth(t)
				logits := randF32(r, s.rows*s.cols)
				for i := range logits {
					logits[i] *= 20 // large logits: stability matters
				}
				labels := make([]int32, s.rows)
				for i := range labels {
					labels[i] = int32(r.IntN(s.cols))
				}
				var loss, grad [2][]float32
				for i, be := range []nn.Backend{x.gpu, x.ref} {
					l := upload(t, be, []float32{42})
					var g nn.Buffer
					if withGrad {
						g = upload(t, be, make([]float32, s.rows*s.cols))
					}
					y, err := be.Alloc(nn.Int32, max(s.rows, 1))
					if err != nil {
						t.Fatal(err)
					}
					if err := be.Upload(y, labels); err != nil {
						t.Fatal(err)
					}
					be.SoftmaxCrossEntropy(l, g, upload(t, be, logits), y, s.rows, s.cols)
					loss[i] = download(t, be, l)
					if withGrad {
						grad[i] = download(t, be, g)
					}
				}
				closeTo(t, "loss", loss[0], loss[1], 1e-4, 1e-5)
				if withGrad {
					closeTo(t, "grad", grad[0], grad[1], 1e-6, 1e-4)
				}
			})
		}
	}
}

func TestSoftmaxCrossEntropyBadLabel(t *testing.T) {
	b, _ := openEmu(t)
	l := upload(t, b, []float32{0})
	y := uploadI32(t, b, []int32{1, 3})
	b.SoftmaxCrossEntropy(l, nil, upload(t, b, make([]float32, 6)), y, 2, 3)
	err := b.Sync()
	if err == nil || !strings.Contains(err.Error(), "label") {
		t.Fatalf("Sync = %v, want an error about a label", err)
	}
}

func TestColumnSumsArgmaxEmu(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range []struct{ rows, cols int }{{1, 1}, {64, 10}, {64, 784}, {300, 33}, {0, 5}} {
		t.Run(fmt.Sprintf("%dx%d", s.rows, s.cols), func(t *testing.T) {
			x := newBoth(t)
			src := randF32(r, s.rows*s.cols)
			if s.rows > 0 && s.cols > 2 {
				src[1], src[2] = 9, 9 // a tie: the first wins
			}
			var sums [2][]float32
			var arg [2][]int32
			for i, be := range []nn.Backend{x.gpu, x.ref} {
				sb := upload(t, be, src)
				d := upload(t, be, make([]float32, s.cols))
				be.ColumnSums(d, sb, s.rows, s.cols)
				sums[i] = download(t, be, d)
				a, err := be.Alloc(nn.Int32, s.rows)
				if err != nil {
					t.Fatal(err)
				}
				be.Argmax(a, sb, s.rows, s.cols)
				arg[i] = downloadI32(t, be, a)
			}
			closeTo(t, "ColumnSums", sums[0], sums[1], 1e-5, 1e-5)
			for i := range arg[0] {
				if arg[0][i] != arg[1][i] {
					t.Fatalf("Argmax[%d] = %d, want %d", i, arg[0][i], arg[1][i])
				}
			}
		})
	}
}

func TestGatherEmu(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const count, pixels = 50, 37
	images := make([]uint8, count*pixels)
	labels := make([]uint8, count)
	for i := range images {
		images[i] = uint8(r.IntN(256))
	}
	for i := range labels {
		labels[i] = uint8(r.IntN(10))
	}
	order := make([]int32, count)
	for i, p := range r.Perm(count) {
		order[i] = int32(p)
	}
	x := newBoth(t)
	var xs [2][]float32
	var ys [2][]int32
	for i, be := range []nn.Backend{x.gpu, x.ref} {
		xb := upload(t, be, make([]float32, 13*pixels))
		yb := uploadI32(t, be, make([]int32, 13))
		be.Gather(xb, yb, uploadU8(t, be, images), uploadU8(t, be, labels), uploadI32(t, be, order), 30, 13, pixels, 1.0/255, -0.5)
		xs[i] = download(t, be, xb)
		ys[i] = downloadI32(t, be, yb)
	}
	closeTo(t, "x", xs[0], xs[1], 1e-6, 0)
	for i := range ys[0] {
		if ys[0][i] != ys[1][i] {
			t.Fatalf("y[%d] = %d, want %d", i, ys[0][i], ys[1][i])
		}
	}

	// An index outside the data set is an error at the next Sync.
	b := x.gpu
	bad := uploadI32(t, b, []int32{0, count})
	b.Gather(upload(t, b, make([]float32, 2*pixels)), uploadI32(t, b, make([]int32, 2)),
		uploadU8(t, b, images), uploadU8(t, b, labels), bad, 0, 2, pixels, 1, 0)
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "outside the data set") {
		t.Fatalf("Sync = %v, want an error about an index outside the data set", err)
	}
}

func TestOptimisersEmu(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	const n = 1000
	params, grads, vel, v2 := randF32(r, n), randF32(r, n), randF32(r, n), randF32(r, n)
	for i := range v2 {
		v2[i] = float32(math.Abs(float64(v2[i])))
	}
	cases := []struct {
		name string
		step func(be nn.Backend, p, g, m, v nn.Buffer)
	}{
		{"sgd", func(be nn.Backend, p, g, m, v nn.Buffer) { be.SGD(p, g, nil, 0.01, 0, 0, false) }},
		{"sgd-momentum-wd", func(be nn.Backend, p, g, m, v nn.Buffer) { be.SGD(p, g, m, 0.01, 0.9, 1e-4, false) }},
		{"sgd-nesterov", func(be nn.Backend, p, g, m, v nn.Buffer) { be.SGD(p, g, m, 0.05, 0.8, 0, true) }},
		{"adam-t1", func(be nn.Backend, p, g, m, v nn.Buffer) { be.Adam(p, g, m, v, 1e-3, 0.9, 0.999, 1e-8, 0, 1) }},
		{"adam-t7-wd", func(be nn.Backend, p, g, m, v nn.Buffer) { be.Adam(p, g, m, v, 1e-2, 0.8, 0.99, 1e-6, 0.01, 7) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := newBoth(t)
			var res [2][3][]float32
			for i, be := range []nn.Backend{x.gpu, x.ref} {
				p, g, m, v := upload(t, be, params), upload(t, be, grads), upload(t, be, vel), upload(t, be, v2)
				c.step(be, p, g, m, v)
				c.step(be, p, g, m, v)
				res[i] = [3][]float32{download(t, be, p), download(t, be, m), download(t, be, v)}
			}
			for j, what := range []string{"params", "m/velocity", "v"} {
				closeTo(t, what, res[0][j], res[1][j], 1e-6, 1e-5)
			}
		})
	}
}
