package gpu

// gemmConfig mirrors one tile configuration of gemm_f32 (kernels/gemm.cu):
// a bm×bn tile per block, a tm×tn register tile per thread, K split over ks
// groups of threads that each take bk rows of a ks·bk deep slab.
type gemmConfig struct {
	bm, bn, tm, tn, ks, bk int
}

// gemmConfigs is indexed by GEMM_CFG_*; keep in step with gemm_f32's switch.
var gemmConfigs = [...]gemmConfig{
	gemmCfg64x64:   {64, 64, 4, 4, 1, 16},
	gemmCfg32x32:   {32, 32, 2, 2, 1, 32},
	gemmCfg16x16k4: {16, 16, 2, 2, 4, 16},
	gemmCfg8x8k16:  {8, 8, 2, 2, 16, 8},
}

// gemmPlan is a launch of gemm_f32 for one problem.
type gemmPlan struct {
	config         int
	tilesM, tilesN int
}

func (p gemmPlan) blocks() int { return p.tilesM * p.tilesN }

// planGemm picks the configuration with the lowest estimated time for an
// m×n×k problem on sms multiprocessors. The estimate counts, per block, the
// slab iterations times (the FMAs a thread issues per iteration plus a fixed
// cost for loads and barriers), plus the cross-slice reduction, and
// multiplies by the waves of blocks (two resident blocks per SM: gemm_f32
// uses about 96 registers × 256 threads). Small tiles with K split inside
// the block win when there are few tiles and K is long (the first layer's
// 64×64×784), large tiles when there are many (big square problems).
func planGemm(m, n, k, sms int) gemmPlan {
	if sms < 1 {
		sms = 1
	}
	best, bestCost := gemmPlan{}, -1.0
	for i, c := range gemmConfigs {
		p := gemmPlan{config: i, tilesM: ceilDiv(m, c.bm), tilesN: ceilDiv(n, c.bn)}
		iters := ceilDiv(k, c.ks*c.bk)
		perBlock := float64(iters*(c.bk*c.tm*c.tn+64)) + float64(c.tm*c.tn*4)
		if c.ks > 1 {
			perBlock += float64(c.bm*c.bn*c.ks/gemmThreads*4 + 32)
		}
		waves := ceilDiv(p.blocks(), 2*sms)
		cost := float64(waves) * perBlock
		if bestCost < 0 || cost < bestCost {
			best, bestCost = p, cost
		}
	}
	return best
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
