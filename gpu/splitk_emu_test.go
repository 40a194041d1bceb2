package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// TestGemmSplitKEmu runs gemm_f32 with K split across blocks, and
// gemm_splitk_reduce_f32 after it, against the naive reference: forced
// split counts (even, odd, more than K has slabs) with every tile
// configuration, both transposes and every epilogue, and the plans
// planGemm itself splits (a convolution's weight and bias gradients). The
// emulator runs every launch in two block orders and faults on reads past
// a buffer, the workspace included.
func TestGemmSplitKEmu(t *testing.T) {
	type shape struct{ m, n, k int }
	forced := []shape{{1, 1, 2}, {3, 5, 70}, {17, 9, 301}, {8, 8, 1}}
	natural := []shape{{1, 32, 9216}, {32, 25, 9216}} // the cnn's first layer at batch 16
	if testing.Short() {
		forced, natural = forced[:2], nil
	}
	r := rand.New(rand.NewPCG(7, 8))
	run := func(t *testing.T, s shape, cfg, splits int, ta, tb bool) {
		x := newBoth(t)
		gb := x.gpu.(*Backend)
		gb.gemmConfig, gb.gemmSplits = cfg, splits
		if splits == 0 {
			if p := gb.gemmPlan(s.m, s.n, s.k); p.splits < 2 {
				t.Fatalf("planGemm does not split %v: %+v", s, p)
			}
		}
		a, bm, c := randF32(r, s.m*s.k), randF32(r, s.k*s.n), randF32(r, s.m*s.n)
		bias, mask := randF32(r, s.n), randF32(r, s.m*s.n)
		variants := []nn.Gemm{
			{Alpha: 1},
			{Alpha: 0.5, Beta: 2, ReLU: true},
			{Alpha: -1, Beta: 1},
		}
		for vi, v := range variants {
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
	}
	for _, s := range forced {
		for _, splits := range []int{2, 3, 64} {
			for cfg := 0; cfg < len(gemmConfigs); cfg++ {
				for tr := 0; tr < 4; tr++ {
					ta, tb := tr&1 != 0, tr&2 != 0
					t.Run(fmt.Sprintf("%dx%dx%d/splits%d/cfg%d/ta=%v/tb=%v", s.m, s.n, s.k, splits, cfg, ta, tb), func(t *testing.T) {
						run(t, s, cfg, splits, ta, tb)
					})
				}
			}
		}
	}
	for _, s := range natural {
		// The convolution's weight gradient: dW = dyᵀ·cols, A transposed.
		t.Run(fmt.Sprintf("%dx%dx%d/planned", s.m, s.n, s.k), func(t *testing.T) {
			run(t, s, -1, 0, true, false)
		})
	}
}

// TestPlanGemmSplitK states which problems planGemm splits across blocks
// on an H100/H200 (132 SMs): the cnn's convolution weight and bias
// gradients at batch 64, never the tutorial MLP's GEMMs, and that every
// split plan covers K with whole slabs and fits the workspace limit.
func TestPlanGemmSplitK(t *testing.T) {
	const h100 = 132
	for _, c := range []struct {
		m, n, k int
		split   bool
	}{
		{32, 25, 36864, true},  // conv1 dW = dyᵀ·cols
		{1, 32, 36864, true},   // conv1 db = ones·dy
		{64, 800, 4096, true},  // conv2 dW
		{1, 64, 4096, true},    // conv2 db
		{36864, 32, 25, false}, // conv1 forward
		{4096, 64, 800, false}, // conv2 forward
		{4096, 800, 64, false}, // conv2 dcols
		{64, 128, 1024, false}, // fc1 forward
		{128, 1024, 64, false}, // fc1 dW
		// The tutorial MLP: forward, weight and input gradients.
		{64, 64, 784, false}, {64, 32, 64, false}, {64, 10, 32, false},
		{10, 32, 64, false}, {32, 64, 64, false}, {64, 784, 64, false},
		{64, 32, 10, false}, {64, 64, 32, false},
	} {
		p := planGemm(c.m, c.n, c.k, h100)
		if got := p.splits > 1; got != c.split {
			t.Errorf("planGemm(%d, %d, %d) = %+v: split %v, want %v", c.m, c.n, c.k, p, got, c.split)
		}
	}
	for _, s := range [][3]int{{32, 25, 36864}, {1, 32, 36864}, {64, 800, 4096}, {1, 1, 1 << 24}, {2048, 2048, 1 << 20}, {3, 3, 1000003}} {
		p := planGemm(s[0], s[1], s[2], h100)
		slab := gemmConfigs[p.config].slab()
		switch {
		case p.splits < 1 || p.kChunk*p.splits < s[2] || p.kChunk*(p.splits-1) >= s[2]:
			t.Errorf("plan %+v for %v: the splits do not cover K exactly", p, s)
		case p.splits > 1 && p.kChunk%slab != 0:
			t.Errorf("plan %+v for %v: a split is not a whole number of %d-deep slabs", p, s, slab)
		case p.splits > maxSplitK || (p.splits > 1 && p.splits*s[0]*s[1] > maxSplitKFloats):
			t.Errorf("plan %+v for %v: over the split-K limits", p, s)
		}
	}
}

// TestSplitKReplay records split-K GEMMs (the workspace is first allocated
// inside Record), grows the workspace afterwards with a larger split, and
// replays: the replay must give bitwise what the same ops give kernel by
// kernel, so a recording keeps reading the workspace it was made with.
func TestSplitKReplay(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	const m, n, k = 6, 5, 300
	a, bm := randF32(r, m*k), randF32(r, k*n)
	big := randF32(r, 40*k)
	var results [2][]float32
	for i, record := range []bool{false, true} {
		b, _ := openEmu(t)
		b.gemmSplits = 4
		A, B, C := upload(t, b, a), upload(t, b, bm), upload(t, b, make([]float32, m*n))
		Big, BigC := upload(t, b, big), upload(t, b, make([]float32, 40*40))
		ops := func() {
			b.Gemm(nn.Gemm{M: m, N: n, K: k, Alpha: 1, A: A, B: B, C: C})
			b.Gemm(nn.Gemm{M: m, N: n, K: k, Alpha: 1, Beta: 1, A: A, B: B, C: C}) // C = 2·A·B
		}
		if record {
			rec, err := b.Record(ops)
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Close()
			small := b.splitK.floats
			b.gemmSplits = 16
			b.Gemm(nn.Gemm{M: 40, N: 40, K: k, TransB: true, Alpha: 1, A: Big, B: Big, C: BigC})
			if b.splitK.floats <= small || len(b.splitK.retired) != 1 {
				t.Fatalf("workspace %d floats after %d, %d retired: it did not grow", b.splitK.floats, small, len(b.splitK.retired))
			}
			if err := rec.Replay(); err != nil {
				t.Fatal(err)
			}
		} else {
			ops()
		}
		results[i] = download(t, b, C)
	}
	for j := range results[0] {
		if math.Float32bits(results[0][j]) != math.Float32bits(results[1][j]) {
			t.Fatalf("C[%d] = %v kernel by kernel, %v replayed", j, results[0][j], results[1][j])
		}
	}
}
