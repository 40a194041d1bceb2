//go:build !cuda

package bench

import (
	"fmt"
	"math"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// Tolerances of TestGradientsMatchGorgonia, per parameter tensor g (one
// weight matrix or bias vector), for our float32 gradient ours against
// gorgonia's reference ref:
//
//	max_i |ours_i - ref_i| ≤ gradTolerance · max_i |ref_i|
//
// The two sum the same products in different orders (our blocked GEMM and
// column sums against gorgonia's BLAS and reductions); in float32 that moves
// the 7th significant digit (measured: at most 6e-7 × max |g|, against
// gorgonia in float32 and in float64, where the error is ours alone).
// Mistakes in a gradient are far larger: a missing ReLU mask, a transposed
// weight or a batch divided twice is off by tens of percent, a lost bias
// gradient by 100%.
const (
	gradTolerance = 1e-5
	lossTol       = 1e-5 // relative, for the batch's mean loss
)

// TestGradientsMatchGorgonia computes the gradients of the tutorial's MLP
// (784-64-32-10, ReLU, mean cross-entropy) for one batch with our CPU
// backend (Model.Forward, SoftmaxCrossEntropy into LogitsGrad, Backward)
// and with gorgonia.org/gorgonia's symbolic differentiation (G.Grad) of the
// same network, weights and batch, in float32 and in float64, and compares
// every parameter's gradient. The batch (100 rows) is not a multiple of any
// blocking size, and the weights are InitParams' (PyTorch's initialisation),
// so that some ReLUs are active and some are not.
func TestGradientsMatchGorgonia(t *testing.T) {
	spec := nn.MLP(28, 28, nn.DefaultHidden, mnist.DigitClasses)
	ds := mnisttest.SyntheticDataset(100, 28, 28, 11)
	params := nn.InitParams(spec, 5)
	x, y := batchInputs(ds, nn.MNISTNormalization)

	ours, ourLoss := cpuGradients(t, spec, params, x, y, ds.Len())
	for _, dtype := range []tensor.Dtype{tensor.Float32, tensor.Float64} {
		t.Run(dtype.String(), func(t *testing.T) {
			ref, refLoss, err := gorgoniaGradients(spec, params, x, y, ds.Len(), dtype)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(ourLoss) - refLoss); d > lossTol*math.Abs(refLoss) {
				t.Errorf("loss: ours %.8g, gorgonia %.8g (difference %.3g)", ourLoss, refLoss, d)
			}
			for _, ps := range spec.Params() {
				got := ours[ps.Offset : ps.Offset+ps.Size()]
				want := ref[ps.Offset : ps.Offset+ps.Size()]
				var scale, worst float64
				worstAt := 0
				nonzero := 0
				for i := range want {
					scale = math.Max(scale, math.Abs(want[i]))
					if want[i] != 0 {
						nonzero++
					}
					if d := math.Abs(float64(got[i]) - want[i]); d > worst {
						worst, worstAt = d, i
					}
				}
				// Guard: a gradient that is all zeros (dead ReLUs, a
				// batch that was never bound) would compare equal trivially.
				if scale == 0 || nonzero < len(want)/10 {
					t.Fatalf("%s: gorgonia's gradient has %d non-zero entries of %d (max |g| %g): the test would prove nothing", ps.Name, nonzero, len(want), scale)
				}
				t.Logf("%-14s %v max |g| %.3g, max difference %.3g (%.2g of max)", ps.Name, ps.Shape, scale, worst, worst/scale)
				if worst > gradTolerance*scale {
					t.Errorf("%s entry %d: ours %.8g, gorgonia %.8g: difference %.3g exceeds %.0e × max |g| = %.3g",
						ps.Name, worstAt, got[worstAt], want[worstAt], worst, gradTolerance, gradTolerance*scale)
				}
			}
		})
	}
}

// batchInputs turns a data set into the inputs (rows×pixels, normalised as
// Backend.Gather does: p·scale + shift in float32) and labels of one batch.
func batchInputs(ds *mnist.Dataset, norm nn.Normalization) (x []float32, y []int32) {
	scale, shift := norm.ScaleShift()
	x = make([]float32, len(ds.Images))
	for i, p := range ds.Images {
		x[i] = float32(p)*scale + shift
	}
	y = make([]int32, ds.Len())
	for i, l := range ds.Labels {
		y[i] = int32(l)
	}
	return x, y
}

// cpuGradients runs one forward and backward pass of spec with params on
// the CPU backend and returns the gradient (laid out as params) and the loss.
func cpuGradients(t *testing.T, spec nn.Spec, params, x []float32, y []int32, rows int) ([]float32, float32) {
	t.Helper()
	b, _, err := nn.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := nn.NewModel(b, spec, rows)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.SetParams(params); err != nil {
		t.Fatal(err)
	}
	xb, err := b.Alloc(nn.Float32, len(x))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(xb)
	yb, err := b.Alloc(nn.Int32, len(y))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(yb)
	lb, err := b.Alloc(nn.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(lb)
	if err := b.Upload(xb, x); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(yb, y); err != nil {
		t.Fatal(err)
	}
	m.Forward(xb, rows)
	b.SoftmaxCrossEntropy(lb, m.LogitsGrad(), m.Logits(), yb, rows, spec.Classes)
	m.Backward(xb, rows)
	grads := make([]float32, spec.NumParams())
	loss := make([]float32, 1)
	if err := b.Download(grads, m.Grads); err != nil {
		t.Fatal(err)
	}
	if err := b.Download(loss, lb); err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	return grads, loss[0]
}

// gorgoniaGradients builds spec in gorgonia in dtype (weights stored (in,
// out) as in gorgonia.go, so the forward pass is x·W + b), differentiates
// the mean cross-entropy symbolically and returns the gradients in nn's
// layout ((out, in) weights), as float64, with the loss.
func gorgoniaGradients(spec nn.Spec, params, x []float32, y []int32, rows int, dtype tensor.Dtype) (grads []float64, loss float64, err error) {
	defer recoverGorgonia("gradients", &err)
	gdt := G.Float32
	if dtype == tensor.Float64 {
		gdt = G.Float64
	}
	// dense copies values (float32 inputs) into a new tensor of dtype.
	dense := func(v []float32, shape ...int) *tensor.Dense {
		if dtype == tensor.Float64 {
			w := make([]float64, len(v))
			for i, f := range v {
				w[i] = float64(f)
			}
			return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(w))
		}
		return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), v...)))
	}
	g := G.NewGraph()
	xn := G.NewMatrix(g, gdt, G.WithShape(rows, spec.Inputs()), G.WithName("x"), G.WithValue(dense(x, rows, spec.Inputs())))
	onehot := make([]float32, rows*spec.Classes)
	for r, l := range y {
		onehot[r*spec.Classes+int(l)] = 1
	}
	yn := G.NewMatrix(g, gdt, G.WithShape(rows, spec.Classes), G.WithName("y"), G.WithValue(dense(onehot, rows, spec.Classes)))

	ps := spec.Params()
	var learn G.Nodes
	h := xn
	for i := 0; i < len(ps); i += 2 {
		w, bias := ps[i], ps[i+1]
		out, in := w.Shape[0], w.Shape[1]
		wt := make([]float32, in*out)
		transpose(wt, params[w.Offset:w.Offset+w.Size()], out, in) // (out, in) → (in, out)
		wn := G.NewMatrix(g, gdt, G.WithShape(in, out), G.WithName(w.Name), G.WithValue(dense(wt, in, out)))
		bn := G.NewVector(g, gdt, G.WithShape(out), G.WithName(bias.Name), G.WithValue(dense(params[bias.Offset:bias.Offset+bias.Size()], out)))
		learn = append(learn, wn, bn)
		if h, err = G.Mul(h, wn); err != nil {
			return nil, 0, err
		}
		if h, err = G.BroadcastAdd(h, bn, nil, []byte{0}); err != nil {
			return nil, 0, err
		}
		if i+2 < len(ps) {
			if h, err = G.Rectify(h); err != nil {
				return nil, 0, err
			}
		}
	}
	logp, err := G.LogSoftMax(h)
	if err != nil {
		return nil, 0, err
	}
	picked, err := G.HadamardProd(yn, logp)
	if err != nil {
		return nil, 0, err
	}
	perRow, err := G.Sum(picked, 1)
	if err != nil {
		return nil, 0, err
	}
	mean, err := G.Mean(perRow)
	if err != nil {
		return nil, 0, err
	}
	cost, err := G.Neg(mean)
	if err != nil {
		return nil, 0, err
	}
	var costVal G.Value
	G.Read(cost, &costVal)
	if _, err := G.Grad(cost, learn...); err != nil {
		return nil, 0, err
	}
	vm := G.NewTapeMachine(g, G.BindDualValues(learn...))
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		return nil, 0, err
	}
	switch v := costVal.Data().(type) {
	case float32:
		loss = float64(v)
	case float64:
		loss = v
	default:
		return nil, 0, fmt.Errorf("gorgonia: the loss is %T", v)
	}
	grads = make([]float64, spec.NumParams())
	for i, n := range learn {
		gv, err := n.Grad()
		if err != nil {
			return nil, 0, fmt.Errorf("gorgonia: gradient of %s: %w", ps[i].Name, err)
		}
		var flat []float64
		switch d := gv.Data().(type) {
		case []float32:
			for _, f := range d {
				flat = append(flat, float64(f))
			}
		case []float64:
			flat = d
		default:
			return nil, 0, fmt.Errorf("gorgonia: gradient of %s is %T", ps[i].Name, d)
		}
		p := ps[i]
		dst := grads[p.Offset : p.Offset+p.Size()]
		if len(flat) != len(dst) {
			return nil, 0, fmt.Errorf("gorgonia: gradient of %s has %d values, want %d", p.Name, len(flat), len(dst))
		}
		if len(p.Shape) == 2 { // stored (in, out): back to (out, in)
			out, in := p.Shape[0], p.Shape[1]
			for r := 0; r < in; r++ {
				for c := 0; c < out; c++ {
					dst[c*in+r] = flat[r*out+c]
				}
			}
		} else {
			copy(dst, flat)
		}
	}
	return grads, loss, nil
}
