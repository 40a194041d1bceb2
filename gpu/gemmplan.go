package gpu

// gemmConfig mirrors one tile configuration of gemm_f32 (kernels/gemm.cu):
// a bm×bn tile per block, a tm×tn register tile per thread, K split over ks
// groups of threads that each take bk rows of a ks·bk deep slab.
type gemmConfig struct {
	bm, bn, tm, tn, ks, bk int
}

// slab is the depth of K a block multiplies per iteration.
func (c gemmConfig) slab() int { return c.ks * c.bk }

// gemmConfigs is indexed by GEMM_CFG_*; keep in step with gemm_f32's switch.
var gemmConfigs = [...]gemmConfig{
	gemmCfg64x64:   {64, 64, 4, 4, 1, 16},
	gemmCfg32x32:   {32, 32, 2, 2, 1, 32},
	gemmCfg16x16k4: {16, 16, 2, 2, 4, 16},
	gemmCfg8x8k16:  {8, 8, 2, 2, 16, 8},
}

// Split-K limits: at most maxSplitK splits, and a workspace of at most
// maxSplitKFloats partial products (16 MiB).
const (
	maxSplitK       = 256
	maxSplitKFloats = 4 << 20
)

// Split-K cost terms, in planGemm's units: the reduction's launch (about
// ten slab iterations of the small tiles: the gap between two kernels and
// the second kernel's ramp) and each partial product a reducing thread
// reads. The launch term keeps K unsplit in every problem whose unsplit
// estimate is below it (all of the tutorial MLP's GEMMs): a split pays
// only when the blocks' K loops are long.
const (
	splitKLaunchCost  = 1000
	splitKPartialCost = 8
)

// gemmPlan is a launch of gemm_f32 for one problem: a grid of
// tilesM·tilesN × splits blocks. With splits > 1, split s multiplies
// K range [s·kChunk, min((s+1)·kChunk, k)) into the split-K workspace and
// gemm_splitk_reduce_f32 sums the splits.
type gemmPlan struct {
	config         int
	tilesM, tilesN int
	splits, kChunk int // 1 and k when K is not split across blocks
}

func (p gemmPlan) tiles() int  { return p.tilesM * p.tilesN }
func (p gemmPlan) blocks() int { return p.tiles() * p.splits }

// planGemm picks the plan with the lowest estimated time for an m×n×k
// problem on sms multiprocessors. The estimate counts, per block, the slab
// iterations times (the FMAs a thread issues per iteration plus a fixed
// cost for loads and barriers), plus the cross-slice reduction, and
// multiplies by the waves of blocks (two resident blocks per SM: gemm_f32
// uses about 96 registers × 256 threads). Small tiles with K split inside
// the block win when there are few tiles and K is long (the first layer's
// 64×64×784), large tiles when there are many (big square problems).
//
// When even the best of those leaves the GPU mostly idle with a long K in
// each block (a convolution's weight gradient: 32×25 outputs, K = 36,864
// at batch 64, 16 blocks of 288 slab iterations each), K is split across
// blocks as well (split-K): more blocks, each with a chunk of K, plus a
// reduction launch (see splitKLaunchCost).
func planGemm(m, n, k, sms int) gemmPlan {
	sms = max(sms, 1)
	best, bestCost := planGemmUnsplit(m, n, k, sms)
	split, splitCost := gemmPlan{}, -1.0
	for i, c := range gemmConfigs {
		for s := 2; s <= maxSplitK; s *= 2 {
			p, ok := splitPlan(i, m, n, k, s)
			if !ok {
				continue
			}
			cost := gemmCost(c, p.blocks(), p.kChunk, sms) + splitKReduceCost(p, m, n, sms)
			if splitCost < 0 || cost < splitCost {
				split, splitCost = p, cost
			}
		}
	}
	if splitCost >= 0 && splitCost < bestCost {
		return split
	}
	return best
}

// planGemmUnsplit is planGemm's best plan that does not split K across
// blocks, and its estimate.
func planGemmUnsplit(m, n, k, sms int) (gemmPlan, float64) {
	sms = max(sms, 1)
	best, bestCost := gemmPlan{}, -1.0
	for i := range gemmConfigs {
		p := unsplitPlan(i, m, n, k)
		if cost := gemmCost(gemmConfigs[i], p.blocks(), k, sms); bestCost < 0 || cost < bestCost {
			best, bestCost = p, cost
		}
	}
	return best, bestCost
}

// unsplitPlan is configuration config over the whole of K.
func unsplitPlan(config, m, n, k int) gemmPlan {
	c := gemmConfigs[config]
	return gemmPlan{config: config, tilesM: ceilDiv(m, c.bm), tilesN: ceilDiv(n, c.bn), splits: 1, kChunk: k}
}

// splitPlan is configuration config with K split in about s chunks, each a
// whole number of slabs; ok is false when that leaves fewer than two
// chunks or the partial products would not fit in the workspace.
func splitPlan(config, m, n, k, s int) (gemmPlan, bool) {
	p := unsplitPlan(config, m, n, k)
	if k < 2 || s < 2 {
		return gemmPlan{}, false
	}
	slab := gemmConfigs[config].slab()
	p.kChunk = ceilDiv(ceilDiv(k, s), slab) * slab
	p.splits = ceilDiv(k, p.kChunk)
	if p.splits < 2 || p.splits > maxSplitK || p.splits*m*n > maxSplitKFloats {
		return gemmPlan{}, false
	}
	return p, true
}

// gemmCost is planGemm's estimate for blocks blocks of configuration c,
// each multiplying k of K.
func gemmCost(c gemmConfig, blocks, k, sms int) float64 {
	iters := ceilDiv(k, c.slab())
	perBlock := float64(iters*(c.bk*c.tm*c.tn+64)) + float64(c.tm*c.tn*4)
	if c.ks > 1 {
		perBlock += float64(c.bm*c.bn*c.ks/gemmThreads*4 + 32)
	}
	waves := ceilDiv(blocks, 2*sms)
	return float64(waves) * perBlock
}

// splitKReduceCost is planGemm's estimate for gemm_splitk_reduce_f32
// after plan p: its launch, and the partial products each thread of its
// grid (strideGrid's) sums.
func splitKReduceCost(p gemmPlan, m, n, sms int) float64 {
	perThread := ceilDiv(m*n, gemmThreads*16*sms) * p.splits
	return splitKLaunchCost + float64(perThread*splitKPartialCost)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
