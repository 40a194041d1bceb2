package gpu

import (
	"fmt"
	"math"
	"unsafe"
)

// splitKWorkspace is the device memory gemm_f32 writes split-K partial
// products to. It grows to the largest split a GEMM has needed, exactly
// (so the emulator's guard page sits right after the last partial); memory
// it outgrows is kept until Close, since recordings made earlier read it.
type splitKWorkspace struct {
	ptr     uint64
	floats  int
	retired []uint64
}

// workspace returns a split-K workspace of at least floats floats. It may
// allocate, inside Record too: the capture is relaxed (cuda.go), so the
// allocation is made once, outside the graph, and the graph keeps reading
// the same memory on every replay.
func (b *Backend) workspace(floats int) (uint64, error) {
	w := &b.splitK
	if floats <= w.floats {
		return w.ptr, nil
	}
	n := floats
	ptr, err := b.dev.alloc(4 * n)
	if err != nil {
		return 0, fmt.Errorf("allocate the %d-float split-K workspace: %w", n, err)
	}
	if w.ptr != 0 {
		w.retired = append(w.retired, w.ptr)
	}
	w.ptr, w.floats = ptr, n
	return ptr, nil
}

// freeWorkspace releases the split-K workspace (Close).
func (b *Backend) freeWorkspace() []error {
	var errs []error
	for _, p := range append(b.splitK.retired, b.splitK.ptr) {
		if p == 0 {
			continue
		}
		if err := b.dev.free(p); err != nil {
			errs = append(errs, err)
		}
	}
	b.splitK = splitKWorkspace{}
	return errs
}

// gemmPlan is planGemm for this backend's GPU, or the configuration and
// split count a test forced (gemmConfig, gemmSplits).
func (b *Backend) gemmPlan(m, n, k int) gemmPlan {
	if b.gemmConfig < 0 && b.gemmSplits == 0 {
		return planGemm(m, n, k, b.sms)
	}
	cfg := b.gemmConfig
	if cfg < 0 {
		p, _ := planGemmUnsplit(m, n, k, b.sms)
		if b.gemmSplits == 1 {
			return p
		}
		cfg = p.config
	}
	if b.gemmSplits > 1 {
		if p, ok := splitPlan(cfg, m, n, k, b.gemmSplits); ok {
			return p
		}
	}
	return unsplitPlan(cfg, m, n, k)
}

// launchGemm queues gemm_f32 for p by plan: one launch, or with K split
// across blocks the partial products into the workspace and then
// gemm_splitk_reduce_f32.
func (b *Backend) launchGemm(op string, p gemmParams, plan gemmPlan) {
	if plan.blocks() > math.MaxInt32 || plan.tiles() > math.MaxUint32 {
		b.failf(op, "%d×%d is too large", p.m, p.n)
		return
	}
	p.config, p.tilesN, p.splits, p.kChunk = int32(plan.config), int32(plan.tilesN), int32(plan.splits), int32(plan.kChunk)
	grid := [3]uint32{uint32(plan.tiles()), uint32(plan.splits), 1}
	if plan.splits <= 1 {
		p.splits, p.kChunk = 1, p.k
		b.launch(op, kGemm, grid, [3]uint32{gemmThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p))
		return
	}
	ws, err := b.workspace(plan.splits * int(p.m) * int(p.n))
	if err != nil {
		b.fail(fmt.Errorf("cuda %s: %w", op, err))
		return
	}
	p.partial = ws
	b.launch(op, kGemm, grid, [3]uint32{gemmThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p))
	b.launch(op, kGemmSplitKReduce, b.strideGrid(int(p.m)*int(p.n)), block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
}
