package backendtest

import (
	"math"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// Training-run constants: a 20-16-8-4 network on four separable classes.
const (
	trainSamples = 512
	trainPixels  = 20
	trainBatch   = 16
	trainSteps   = 48
	trainLR      = 0.5
)

// trainSizes are the layer widths of the training run.
var trainSizes = []int{trainPixels, 16, 8, 4}

// syntheticData returns uint8 images and labels of four classes: each class
// lights a different group of pixels (the rest mostly 0, like MNIST's
// background), with noise.
func syntheticData(seed uint64) (images, labels []uint8) {
	r := newRand(seed)
	images = make([]uint8, trainSamples*trainPixels)
	labels = make([]uint8, trainSamples)
	for i := range labels {
		c := r.IntN(4)
		labels[i] = uint8(c)
		for j := range trainPixels {
			v := 0
			if j%4 == c {
				v = 120 + r.IntN(136)
			} else if r.IntN(5) == 0 {
				v = r.IntN(120)
			}
			images[i*trainPixels+j] = uint8(v)
		}
	}
	return images, labels
}

// trainer is a training run on one backend.
type trainer struct {
	x                     *tb
	m                     *MLP
	images, labels, order nn.Buffer
}

func newTrainer(x *tb, params []float32, images, labels []uint8, order []int32) *trainer {
	x.Helper()
	m, err := NewMLP(x.b, trainSizes, trainBatch)
	if err != nil {
		x.Fatal(err)
	}
	if err := m.SetParams(params); err != nil {
		x.Fatal(err)
	}
	return &trainer{x: x, m: m, images: x.upload(images), labels: x.upload(labels), order: x.upload(order)}
}

// step trains on batch i and returns its loss.
func (tr *trainer) step(i int) float32 {
	tr.m.Step(tr.images, tr.labels, tr.order, (i*trainBatch)%trainSamples, trainLR)
	return tr.x.f32(tr.m.Loss, 1)[0]
}

// testTraining trains the same network from the same parameters on the
// backend and on the reference, and checks that the loss curves agree step
// by step and that the loss actually falls. Each step rounds differently in
// float32, and the differences compound through the updates; the curves
// and the final parameters are compared at 1e-5 absolute + 1e-4 relative
// (the pure-Go backends agree with the reference a hundred times closer).
func (s *suite) testTraining(t *testing.T) {
	x := s.backend(t)
	ref := reference(t)
	images, labels := syntheticData(30)
	order := make([]int32, trainSamples)
	for i, v := range newRand(31).Perm(trainSamples) {
		order[i] = int32(v)
	}
	m0, err := NewMLP(ref.b, trainSizes, trainBatch) // only for the initial parameters
	if err != nil {
		t.Fatal(err)
	}
	params := m0.InitParams(32)
	m0.Free()

	got, want := newTrainer(x, params, images, labels, order), newTrainer(ref, params, images, labels, order)
	var curve, refCurve []float32
	for i := range trainSteps {
		curve = append(curve, got.step(i))
		refCurve = append(refCurve, want.step(i))
	}
	t.Logf("loss: first %.4f, last %.4f (reference %.4f, %.4f)", curve[0], curve[len(curve)-1], refCurve[0], refCurve[len(refCurve)-1])
	closeTo(t, "loss curve", curve, refCurve, 1, tolerance{atol: 1e-5, rtol: 1e-4})
	first, last := mean(curve[:8]), mean(curve[len(curve)-8:])
	if !(last < 0.5*first) {
		t.Errorf("loss did not fall: mean of the first 8 steps %.4f, of the last 8 %.4f", first, last)
	}
	n := got.m.NumParams()
	closeTo(t, "parameters after training", x.f32(got.m.Params, n), ref.f32(want.m.Params, n), n, tolerance{atol: 1e-5, rtol: 1e-4})
}

func mean(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x)
	}
	return s / float64(len(v))
}

// hostLoss evaluates the MLP in float64 on the host: the independent
// definition the gradient check differentiates. It also returns the ReLU
// pattern (which hidden units are on), so that a finite difference that
// crosses a kink can be recognised and skipped.
func hostLoss(sizes []int, params, x []float64, labels []int32, batch int) (float64, []bool) {
	act := x
	var pattern []bool
	off := 0
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		w, b := params[off:off+out*in], params[off+out*in:off+out*in+out]
		off += out*in + out
		next := make([]float64, batch*out)
		for r := range batch {
			for o := range out {
				z := b[o]
				for i := range in {
					z += act[r*in+i] * w[o*in+i]
				}
				if l+2 < len(sizes) {
					pattern = append(pattern, z > 0)
					z = math.Max(z, 0)
				}
				next[r*out+o] = z
			}
		}
		act = next
	}
	classes := sizes[len(sizes)-1]
	var loss float64
	for r := range batch {
		row := act[r*classes : (r+1)*classes]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, v)
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(v - m)
		}
		loss += m + math.Log(sum) - row[labels[r]]
	}
	return loss / float64(batch), pattern
}
