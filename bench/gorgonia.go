//go:build !cuda

package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// gorgoniaRunner trains the network written in gorgonia.org/gorgonia, used
// as its documentation and examples intend and as fast as it goes:
//
//   - float32 throughout;
//   - the expression graph, its symbolic gradient and the TapeMachine are
//     built once per batch shape and reused for every batch; batches are
//     bound to the input nodes with G.Let into tensors allocated once;
//   - weights are stored (in, out), so the forward pass is x·W with no
//     transpose node (the backward pass's transposes are BLAS flags);
//   - the loss is already a mean over the batch, so the VanillaSolver keeps
//     its default batch size of 1 (WithBatchSize would divide the gradient a
//     second time).
//
// Graph shapes are fixed, so the short last batch of an epoch gets a second
// graph whose weight nodes are bound to the same tensors (G.WithValue), and
// evaluation a forward-only graph of its own; the solver updates those
// tensors in place, so every graph sees every update.
type gorgoniaRunner struct {
	cfg   Config
	train *mnist.Dataset
	test  *mnist.Dataset

	solver  *G.VanillaSolver
	weights []*tensor.Dense // Spec.Params order; linear weights stored (in, out), biases (out)
	nets    map[int]*gorgoniaNet
	evals   map[int]*gorgoniaNet
	pixel   [256]float32 // pixel value → input, computed as nn.Backend.Gather does

	init   []float32
	perm   []int32
	losses []float32 // of the epoch in progress
	epoch  int
	step   int // next step of epoch; steps means the epoch is finished
	steps  int
}

// gorgoniaNet is one compiled graph: training (with loss and gradients) or
// forward only, for batches of exactly rows samples.
type gorgoniaNet struct {
	rows   int
	x, y   *G.Node       // inputs; y (one-hot labels) only when training
	xv, yv *tensor.Dense // the values bound to x and y, refilled per batch
	learn  G.Nodes
	vgs    []G.ValueGrad
	cost   G.Value // read back after each run (training)
	logits G.Value // read back after each run (forward only)
	vm     G.VM
}

// gorgoniaLinked says whether this build links gorgonia (see gorgonia_cuda.go).
const gorgoniaLinked = true

func newGorgoniaRunner(cfg Config, train, test *mnist.Dataset) (Runner, error) {
	if test.Pixels() != train.Pixels() {
		return nil, fmt.Errorf("%s holds %d×%d images but %s holds %d×%d", test.Name, test.Rows, test.Cols, train.Name, train.Rows, train.Cols)
	}
	r := &gorgoniaRunner{
		cfg:    cfg,
		train:  train,
		test:   test,
		solver: G.NewVanillaSolver(G.WithLearnRate(float64(cfg.LR))),
		nets:   map[int]*gorgoniaNet{},
		evals:  map[int]*gorgoniaNet{},
		init:   cfg.Spec.TorchOrder(nn.InitParams(cfg.Spec, cfg.Seed)), // conv weights [out, in, kh, kw] as gorgonia's Conv2d takes them
		perm:   make([]int32, train.Len()),
		steps:  (train.Len() + cfg.Batch - 1) / cfg.Batch,
	}
	scale, shift := cfg.Norm.ScaleShift()
	for p := range r.pixel {
		r.pixel[p] = float32(p)*scale + shift
	}
	for _, ps := range cfg.Spec.Params() {
		shape := ps.Shape
		if len(shape) == 2 {
			shape = []int{shape[1], shape[0]} // (out, in) → (in, out)
		}
		r.weights = append(r.weights, tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...)))
	}
	if err := r.Reset(); err != nil {
		return nil, err
	}
	// Build the graphs now, so that building them is never timed: full
	// batches, the short last batch (if any) and evaluation.
	shapes := []struct {
		rows     int
		training bool
	}{{cfg.Batch, true}, {train.Len() % cfg.Batch, true}, {min(cfg.Spec.EvalBatch(), test.Len()), false}, {test.Len() % min(cfg.Spec.EvalBatch(), test.Len()), false}}
	for _, s := range shapes {
		if s.rows > 0 {
			if _, err := r.net(s.rows, s.training); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func (r *gorgoniaRunner) Name() string { return Gorgonia }

func (r *gorgoniaRunner) Device() string {
	return fmt.Sprintf("gorgonia %s, TapeMachine on the CPU (GOMAXPROCS %d)", moduleVersion("gorgonia.org/gorgonia"), runtime.GOMAXPROCS(0))
}

// net returns the graph for batches of rows samples, building it on first use.
func (r *gorgoniaRunner) net(rows int, training bool) (n *gorgoniaNet, err error) {
	cache := r.evals
	if training {
		cache = r.nets
	}
	if n := cache[rows]; n != nil {
		return n, nil
	}
	defer recoverGorgonia("build the graph", &err)
	spec := r.cfg.Spec
	g := G.NewGraph()
	n = &gorgoniaNet{rows: rows}
	var h *G.Node
	if spec.Model == "cnn" {
		if h, err = r.cnnLayers(g, n); err != nil {
			return nil, err
		}
	} else if h, err = r.mlpLayers(g, n); err != nil {
		return nil, err
	}
	if !training {
		G.Read(h, &n.logits)
		n.vm = G.NewTapeMachine(g)
		cache[rows] = n
		return n, nil
	}
	// Cross-entropy, the mean over the batch of -Σ_c onehot·log softmax(logits).
	n.yv = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(rows, spec.Classes))
	n.y = G.NewMatrix(g, G.Float32, G.WithShape(rows, spec.Classes), G.WithName("y"), G.WithValue(n.yv))
	logp, err := G.LogSoftMax(h)
	if err != nil {
		return nil, fmt.Errorf("gorgonia: log softmax: %w", err)
	}
	picked, err := G.HadamardProd(n.y, logp)
	if err != nil {
		return nil, fmt.Errorf("gorgonia: loss: %w", err)
	}
	perRow, err := G.Sum(picked, 1)
	if err != nil {
		return nil, fmt.Errorf("gorgonia: loss: %w", err)
	}
	mean, err := G.Mean(perRow)
	if err != nil {
		return nil, fmt.Errorf("gorgonia: loss: %w", err)
	}
	cost, err := G.Neg(mean)
	if err != nil {
		return nil, fmt.Errorf("gorgonia: loss: %w", err)
	}
	G.Read(cost, &n.cost)
	if _, err := G.Grad(cost, n.learn...); err != nil {
		return nil, fmt.Errorf("gorgonia: gradients: %w", err)
	}
	n.vm = G.NewTapeMachine(g, G.BindDualValues(n.learn...))
	n.vgs = G.NodesToValueGrads(n.learn)
	cache[rows] = n
	return n, nil
}

// mlpLayers builds the mlp's input node and layers in g and returns the logits.
func (r *gorgoniaRunner) mlpLayers(g *G.ExprGraph, n *gorgoniaNet) (*G.Node, error) {
	spec, rows := r.cfg.Spec, n.rows
	n.xv = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(rows, spec.Inputs()))
	n.x = G.NewMatrix(g, G.Float32, G.WithShape(rows, spec.Inputs()), G.WithName("x"), G.WithValue(n.xv))
	h := n.x
	params := spec.Params()
	var err error
	for i := 0; i < len(params); i += 2 {
		w := G.NewMatrix(g, G.Float32, G.WithName(params[i].Name), G.WithValue(r.weights[i]))
		b := G.NewVector(g, G.Float32, G.WithName(params[i+1].Name), G.WithValue(r.weights[i+1]))
		n.learn = append(n.learn, w, b)
		// h is (rows, in), w is (in, out), b is (out): h·w + b, then ReLU but after the last layer.
		if h, err = G.Mul(h, w); err != nil {
			return nil, fmt.Errorf("gorgonia: layer %d: %w", i/2+1, err)
		}
		if h, err = G.BroadcastAdd(h, b, nil, []byte{0}); err != nil {
			return nil, fmt.Errorf("gorgonia: layer %d bias: %w", i/2+1, err)
		}
		if i+2 < len(params) {
			if h, err = G.Rectify(h); err != nil {
				return nil, fmt.Errorf("gorgonia: layer %d ReLU: %w", i/2+1, err)
			}
		}
	}
	return h, nil
}

// recoverGorgonia turns a panic inside gorgonia (it panics on some failures
// rather than returning an error) into an error saying what was being done.
func recoverGorgonia(what string, err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("gorgonia: %s: %v", what, p)
	}
}

// fill writes the batch of samples order[first:first+rows] of ds into n's
// inputs: pixels through r.pixel, and one-hot labels when n trains.
func (r *gorgoniaRunner) fill(n *gorgoniaNet, ds *mnist.Dataset, order []int32, first int) {
	px := ds.Pixels()
	x := n.xv.Data().([]float32)
	var y []float32
	if n.yv != nil {
		y = n.yv.Data().([]float32)
		clear(y)
	}
	for row := 0; row < n.rows; row++ {
		i := row + first
		if order != nil {
			i = int(order[i])
		}
		src := ds.Images[i*px : (i+1)*px]
		dst := x[row*px : (row+1)*px]
		for j, p := range src {
			dst[j] = r.pixel[p]
		}
		if y != nil {
			y[row*r.cfg.Spec.Classes+int(ds.Labels[i])] = 1
		}
	}
}

func (r *gorgoniaRunner) Step() (err error) {
	if r.step == r.steps {
		r.epoch++
		r.step = 0
	}
	if r.step == 0 {
		mnist.Permutation(r.perm, r.cfg.Seed, r.epoch)
		r.losses = r.losses[:0]
	}
	first := r.step * r.cfg.Batch
	n, err := r.net(min(r.cfg.Batch, r.train.Len()-first), true)
	if err != nil {
		return err
	}
	defer recoverGorgonia("training step", &err)
	r.fill(n, r.train, r.perm, first)
	if err := G.Let(n.x, n.xv); err != nil {
		return fmt.Errorf("gorgonia: bind the batch: %w", err)
	}
	if err := G.Let(n.y, n.yv); err != nil {
		return fmt.Errorf("gorgonia: bind the labels: %w", err)
	}
	if err := n.vm.RunAll(); err != nil {
		return fmt.Errorf("gorgonia: step %d of epoch %d: %w", r.step+1, r.epoch+1, err)
	}
	if err := r.solver.Step(n.vgs); err != nil {
		return fmt.Errorf("gorgonia: SGD update: %w", err)
	}
	n.vm.Reset()
	loss, ok := n.cost.Data().(float32)
	if !ok {
		return fmt.Errorf("gorgonia: the loss is %T, want float32", n.cost.Data())
	}
	r.losses = append(r.losses, loss)
	r.step++
	return nil
}

func (r *gorgoniaRunner) Epoch(ctx context.Context) error {
	if r.step == r.steps {
		r.epoch++
		r.step = 0
	}
	for r.step < r.steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.Step(); err != nil {
			return err
		}
	}
	return nil
}

// Sync has nothing to wait for: gorgonia computes on the calling goroutine.
func (r *gorgoniaRunner) Sync() error { return nil }

func (r *gorgoniaRunner) Losses() ([]float32, error) {
	return append([]float32(nil), r.losses...), nil
}

func (r *gorgoniaRunner) TestAccuracy() (acc float64, err error) {
	defer recoverGorgonia("evaluation", &err)
	n := r.test.Len()
	batch := min(r.cfg.Spec.EvalBatch(), n)
	correct := 0
	for first := 0; first < n; first += batch {
		net, err := r.net(min(batch, n-first), false)
		if err != nil {
			return 0, err
		}
		r.fill(net, r.test, nil, first)
		if err := G.Let(net.x, net.xv); err != nil {
			return 0, fmt.Errorf("gorgonia: bind the test batch: %w", err)
		}
		if err := net.vm.RunAll(); err != nil {
			return 0, fmt.Errorf("gorgonia: evaluation: %w", err)
		}
		logits, ok := net.logits.Data().([]float32)
		if !ok {
			return 0, fmt.Errorf("gorgonia: the logits are %T, want []float32", net.logits.Data())
		}
		classes := r.cfg.Spec.Classes
		for row := 0; row < net.rows; row++ {
			if argmax(logits[row*classes:(row+1)*classes]) == int(r.test.Labels[first+row]) {
				correct++
			}
		}
		net.vm.Reset()
	}
	return float64(correct) / float64(n), nil
}

// argmax returns the index of the largest value, the first one on ties.
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// Params converts the weights back to nn's layout ((out, in) weights, the
// cnn's first linear layer's columns in NHWC order).
func (r *gorgoniaRunner) Params() ([]float32, error) {
	p := make([]float32, r.cfg.Spec.NumParams())
	for i, ps := range r.cfg.Spec.Params() {
		src := r.weights[i].Data().([]float32)
		dst := p[ps.Offset : ps.Offset+ps.Size()]
		if len(ps.Shape) == 2 {
			transpose(dst, src, ps.Shape[1], ps.Shape[0])
		} else {
			copy(dst, src)
		}
	}
	return r.cfg.Spec.FromTorchOrder(p), nil
}

// Reset copies the initial parameters into the weight tensors the graphs share.
func (r *gorgoniaRunner) Reset() error {
	for i, ps := range r.cfg.Spec.Params() {
		src := r.init[ps.Offset : ps.Offset+ps.Size()]
		dst := r.weights[i].Data().([]float32)
		if len(ps.Shape) == 2 {
			transpose(dst, src, ps.Shape[0], ps.Shape[1])
		} else {
			copy(dst, src)
		}
	}
	r.epoch, r.step = 0, 0
	r.losses = r.losses[:0]
	return nil
}

// transpose writes the transpose of src (rows×cols) into dst (cols×rows).
func transpose(dst, src []float32, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			dst[j*rows+i] = src[i*cols+j]
		}
	}
}

func (r *gorgoniaRunner) Close() error {
	for _, cache := range []map[int]*gorgoniaNet{r.nets, r.evals} {
		for rows, n := range cache {
			n.vm.Close()
			delete(cache, rows)
		}
	}
	return nil
}

func newGorgoniaGEMM() (GEMM, error) { return &tensorGEMM{}, nil }

// tensorGEMM multiplies with gorgonia.org/tensor, which gorgonia's
// linAlgBinOp calls for a matmul node: transposes are views (T) that reach
// BLAS as flags, and the product goes into a preallocated C.
type tensorGEMM struct {
	a, b, c *tensor.Dense
	s       GEMMShape
}

func (g *tensorGEMM) Name() string { return Gorgonia }
func (g *tensorGEMM) Device() string {
	return fmt.Sprintf("gorgonia.org/tensor %s MatMul on the CPU (GOMAXPROCS %d)", moduleVersion("gorgonia.org/tensor"), runtime.GOMAXPROCS(0))
}

func (g *tensorGEMM) Prepare(s GEMMShape) error {
	ah, bh := gemmOperands(s)
	ashape, bshape := []int{s.M, s.K}, []int{s.K, s.N}
	if s.TransA {
		ashape = []int{s.K, s.M}
	}
	if s.TransB {
		bshape = []int{s.N, s.K}
	}
	g.s = s
	g.a = tensor.New(tensor.WithShape(ashape...), tensor.WithBacking(ah))
	g.b = tensor.New(tensor.WithShape(bshape...), tensor.WithBacking(bh))
	g.c = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(s.M, s.N))
	return nil
}

func (g *tensorGEMM) Run(n int) error {
	if g.s.TransA {
		if err := g.a.T(); err != nil {
			return err
		}
		defer g.a.UT()
	}
	if g.s.TransB {
		if err := g.b.T(); err != nil {
			return err
		}
		defer g.b.UT()
	}
	for i := 0; i < n; i++ {
		if _, err := tensor.MatMul(g.a, g.b, tensor.WithReuse(g.c)); err != nil {
			return fmt.Errorf("gorgonia: matmul %s: %w", g.s, err)
		}
	}
	return nil
}

func (g *tensorGEMM) Result() ([]float32, error) {
	return append([]float32(nil), g.c.Data().([]float32)...), nil
}

func (g *tensorGEMM) Close() error { return nil }

// moduleVersion returns the version of module path linked into this binary
// (gorgonia's, for the baselines' descriptions).
func moduleVersion(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, m := range info.Deps {
			if m.Path == path {
				if m.Replace != nil {
					return m.Replace.Version
				}
				return m.Version
			}
		}
	}
	return "(version unknown)"
}
