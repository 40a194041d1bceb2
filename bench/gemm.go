package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/mnist-go/mnist/nn"
)

// GEMMShape is one matrix product C = op(A)·op(B), C M×N, inner size K.
type GEMMShape struct {
	M, N, K        int
	TransA, TransB bool
}

// String names the shape as the benchmarks do: "64x64x784,NT" (M×N×K, then
// N or T for op(A) and op(B)).
func (s GEMMShape) String() string {
	t := func(b bool) string {
		if b {
			return "T"
		}
		return "N"
	}
	return fmt.Sprintf("%dx%dx%d,%s%s", s.M, s.N, s.K, t(s.TransA), t(s.TransB))
}

// FLOPs returns the floating-point operations of one product (2 per multiply-add).
func (s GEMMShape) FLOPs() float64 { return 2 * float64(s.M) * float64(s.N) * float64(s.K) }

// ModelGEMMShapes lists the products one training step of spec runs on a
// batch of batch samples, as nn.Model queues them (without duplicates):
// each layer's forward pass x·Wᵀ (NT), its weight gradient dyᵀ·x (TN) and,
// above the first layer, its input gradient dy·W (NN). For a convolution x
// is the column matrix of its input (nn.ConvGeom): one row per sample and
// output position, one column per kernel tap.
func ModelGEMMShapes(spec nn.Spec, batch int) []GEMMShape {
	var shapes []GEMMShape
	seen := map[GEMMShape]bool{}
	add := func(s GEMMShape) {
		if !seen[s] {
			seen[s] = true
			shapes = append(shapes, s)
		}
	}
	params := spec.Params()
	var layers []nn.LayerSummary // the layers with parameters, in Params order
	for _, l := range spec.Summary() {
		if l.Params > 0 {
			layers = append(layers, l)
		}
	}
	for i := 0; i < len(params); i += 2 {
		w := params[i].Shape
		out, in, rows := w[0], 1, batch
		for _, d := range w[1:] {
			in *= d
		}
		if len(w) == 4 { // a convolution: the output is [out, h, w] per sample
			o := layers[i/2].Output
			rows *= o[1] * o[2]
		}
		add(GEMMShape{M: rows, N: out, K: in, TransB: true})
		add(GEMMShape{M: out, N: in, K: rows, TransA: true})
		if i > 0 {
			add(GEMMShape{M: rows, N: in, K: out})
		}
	}
	return shapes
}

// SquareGEMM is the large case beside the model's small ones.
var SquareGEMM = GEMMShape{M: 1024, N: 1024, K: 1024}

// GEMM times matrix products on one entry. Prepare a shape, then Run.
type GEMM interface {
	Name() string
	Device() string
	// Prepare allocates the operands of s and fills A and B with values in [-1, 1).
	Prepare(s GEMMShape) error
	// Run computes n products of the prepared shape and waits for them to finish.
	Run(n int) error
	// Result returns C of the last product, for checks.
	Result() ([]float32, error)
	Close() error
}

// OpenGEMM opens entry name for GEMM timing: a registered backend, naive
// (nn/naive's loops) or gorgonia (gorgonia.org/tensor's MatMul, the call
// gorgonia's matmul op makes, with transposes as BLAS flags and C reused).
func OpenGEMM(name string) (GEMM, error) {
	switch name {
	case Gorgonia:
		return newGorgoniaGEMM()
	case Naive:
		return &backendGEMM{name: Naive, b: newNaive()}, nil
	}
	if !isRegistered(name) {
		return nil, fmt.Errorf("%w %q: choose from %s", ErrUnknown, name, Names())
	}
	b, _, err := nn.Open(name)
	if err != nil {
		return nil, err
	}
	return &backendGEMM{name: name, b: b}, nil
}

// gemmOperands returns A and B for s, the same for every entry.
func gemmOperands(s GEMMShape) (a, b []float32) {
	rng := rand.New(rand.NewPCG(uint64(s.M), uint64(s.N)<<32|uint64(s.K)))
	a = make([]float32, s.M*s.K)
	b = make([]float32, s.K*s.N)
	for i := range a {
		a[i] = float32(2*rng.Float64() - 1)
	}
	for i := range b {
		b[i] = float32(2*rng.Float64() - 1)
	}
	return a, b
}

type backendGEMM struct {
	name    string
	b       nn.Backend
	g       nn.Gemm
	buffers []nn.Buffer
}

func (g *backendGEMM) Name() string   { return g.name }
func (g *backendGEMM) Device() string { return g.b.Device() }

func (g *backendGEMM) Prepare(s GEMMShape) error {
	g.free()
	ah, bh := gemmOperands(s)
	var bufs [3]nn.Buffer
	for i, n := range []int{len(ah), len(bh), s.M * s.N} {
		buf, err := g.b.Alloc(nn.Float32, n)
		if err != nil {
			return fmt.Errorf("%s: allocate %s operands: %w", g.name, s, err)
		}
		bufs[i] = buf
		g.buffers = append(g.buffers, buf)
	}
	if err := g.b.Upload(bufs[0], ah); err != nil {
		return err
	}
	if err := g.b.Upload(bufs[1], bh); err != nil {
		return err
	}
	g.g = nn.Gemm{TransA: s.TransA, TransB: s.TransB, M: s.M, N: s.N, K: s.K, Alpha: 1, A: bufs[0], B: bufs[1], C: bufs[2]}
	return g.b.Sync()
}

func (g *backendGEMM) Run(n int) error {
	for i := 0; i < n; i++ {
		g.b.Gemm(g.g)
	}
	if err := g.b.Sync(); err != nil {
		return fmt.Errorf("%s: gemm: %w", g.name, err)
	}
	return nil
}

func (g *backendGEMM) Result() ([]float32, error) {
	c := make([]float32, g.g.M*g.g.N)
	return c, g.b.Download(c, g.g.C)
}

func (g *backendGEMM) free() {
	for _, buf := range g.buffers {
		g.b.Free(buf)
	}
	g.buffers = nil
}

func (g *backendGEMM) Close() error {
	g.free()
	return g.b.Close()
}
