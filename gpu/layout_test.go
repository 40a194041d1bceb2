package gpu

import (
	"reflect"
	"testing"

	"github.com/mnist-go/mnist/gpu/internal/emu"
	"github.com/mnist-go/mnist/kernels"
)

// paramStructs pairs each Go mirror with its C struct and its kernels.
var paramStructs = []struct {
	c       string
	goType  any
	kernels []kernel
}{
	{"gemm_params", gemmParams{}, []kernel{kGemm, kGemmSplitKReduce}},
	{"eltwise_params", eltwiseParams{}, []kernel{kReLU, kReLUBackward}},
	{"xent_params", xentParams{}, []kernel{kSoftmaxXent}},
	{"colsum_params", colsumParams{}, []kernel{kColumnSums}},
	{"argmax_params", argmaxParams{}, []kernel{kArgmax}},
	{"gather_params", gatherParams{}, []kernel{kGather}},
	{"optim_params", optimParams{}, []kernel{kSGD, kAdam}},
	{"conv_params", convParams{}, []kernel{kIm2Col, kCol2Im}},
	{"pool_params", poolParams{}, []kernel{kMaxPool, kMaxPoolBackward}},
	{"gather_affine_params", gatherAffineParams{}, []kernel{kGatherAffine}},
	{"mlp_params", mlpParams{}, []kernel{kMLPFirst, kMLPRows, kMLPUpdate}},
}

// TestParamLayout checks each Go mirror of a params.h struct: its size
// against the parameter size nvcc declared in the PTX for every kernel
// that takes it, and its field offsets against g++'s layout of the C struct.
func TestParamLayout(t *testing.T) {
	ptxSize := map[string]int{}
	for _, m := range kernels.Modules {
		for _, e := range kernels.Entries(m.PTX) {
			ptxSize[e.Name] = e.ParamSize
		}
	}
	var lib *emu.Lib
	if _, err := emuAvailable(); err == nil {
		lib, _ = emu.Load()
	}
	covered := map[kernel]bool{}
	for _, s := range paramStructs {
		typ := reflect.TypeOf(s.goType)
		for _, k := range s.kernels {
			covered[k] = true
			if got := ptxSize[kernelNames[k]]; got != int(typ.Size()) {
				t.Errorf("%s: Go %s is %d bytes, the PTX parameter %d", kernelNames[k], typ.Name(), typ.Size(), got)
			}
		}
		if lib == nil {
			continue
		}
		size, offs := lib.Layout(s.c)
		if size != typ.Size() {
			t.Errorf("%s is %d bytes in C, %s %d in Go", s.c, size, typ.Name(), typ.Size())
		}
		if len(offs) != typ.NumField() {
			t.Errorf("%s has %d fields in C, %s %d in Go", s.c, len(offs), typ.Name(), typ.NumField())
			continue
		}
		for i := 0; i < typ.NumField(); i++ {
			if f := typ.Field(i); f.Offset != offs[i] {
				t.Errorf("%s field %d (%s) at offset %d in Go, %d in C", s.c, i, f.Name, f.Offset, offs[i])
			}
		}
	}
	if lib != nil {
		// replay_hyper is no kernel parameter: device memory the kernels
		// read during a replay (Recording.ReplayAt writes it).
		size, offs := lib.Layout("replay_hyper")
		typ := reflect.TypeOf(replayHyper{})
		ok := size == typ.Size() && len(offs) == typ.NumField()
		for i := 0; ok && i < typ.NumField(); i++ {
			ok = offs[i] == typ.Field(i).Offset
		}
		if !ok {
			t.Errorf("replay_hyper: %d bytes, offsets %v in C; %d bytes in Go", size, offs, typ.Size())
		}
	}
	for k := kernel(0); k < numKernels; k++ {
		if !covered[k] {
			t.Errorf("kernel %s has no parameter struct in this test", k)
		}
	}
	if lib == nil {
		t.Skip("sizes checked against the PTX; no g++ for the field offsets")
	}
}

func TestPlanGemm(t *testing.T) {
	const h100 = 132
	for _, c := range []struct {
		m, n, k int
		want    int
	}{
		{64, 64, 784, gemmCfg8x8k16},     // layer 1 forward: few tiles, long K
		{64, 784, 64, gemmCfg16x16k4},    // layer 1 weight gradient: many tiles, short K
		{1024, 1024, 1024, gemmCfg64x64}, // large: big tiles
	} {
		if got := planGemm(c.m, c.n, c.k, h100).config; got != c.want {
			t.Errorf("planGemm(%d, %d, %d) = config %d, want %d", c.m, c.n, c.k, got, c.want)
		}
	}
	// Every plan covers the output.
	for _, s := range [][3]int{{1, 1, 1}, {64, 10, 32}, {65, 33, 7}, {10000, 10, 32}} {
		p := planGemm(s[0], s[1], s[2], h100)
		c := gemmConfigs[p.config]
		if p.tilesM*c.bm < s[0] || p.tilesN*c.bn < s[1] {
			t.Errorf("plan %+v for %v does not cover the output", p, s)
		}
	}
}
