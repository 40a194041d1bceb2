package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// softmaxWant computes the mean cross-entropy loss and its gradient with
// respect to the logits in float64, from the definition.
func softmaxWant(logits []float32, labels []int32, rows, cols int) (float64, []float32) {
	grad := make([]float32, rows*cols)
	var loss float64
	for r := range rows {
		row := logits[r*cols : (r+1)*cols]
		m := math.Inf(-1)
		for _, v := range row {
			m = math.Max(m, float64(v))
		}
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - m)
		}
		y := int(labels[r])
		loss += m + math.Log(sum) - float64(row[y])
		for c, v := range row {
			p := math.Exp(float64(v)-m) / sum
			if c == y {
				p--
			}
			grad[r*cols+c] = float32(p / float64(rows))
		}
	}
	return loss / float64(rows), grad
}

func (s *suite) testSoftmaxCrossEntropy(t *testing.T) {
	x := s.backend(t)
	ref := reference(t)
	r := newRand(8)
	shapes := [][2]int{{1, 1}, {1, 10}, {64, 10}, {33, 7}, {127, 65}, {2, 784}, {65, 2}}
	for i, sh := range shapes {
		rows, cols := sh[0], sh[1]
		for _, withGrad := range []bool{true, false} {
			t.Run(fmt.Sprintf("%dx%d/grad=%v", rows, cols, withGrad), func(t *testing.T) {
				x, ref := x.with(t), ref.with(t)
				logits := normals(r, rows*cols, 1)
				for k := range logits {
					logits[k] *= 4
				}
				labels := make([]int32, rows)
				for k := range labels {
					labels[k] = int32(r.IntN(cols))
				}
				wantLoss, wantGrad := softmaxWant(logits, labels, rows, cols)

				// The reference agrees with the formula...
				rl, rg := ref.alloc(nn.Float32, 1), ref.alloc(nn.Float32, rows*cols)
				ref.b.SoftmaxCrossEntropy(rl, rg, ref.upload(logits), ref.upload(labels), rows, cols)
				ref.sync()
				closeTo(t, "reference loss", ref.f32(rl, 1), []float32{float32(wantLoss)}, 1, tolerance{atol: 1e-6, rtol: 1e-6})

				// ...and the backend agrees with both.
				lay := func(j int) layout { return layouts[(i+j)%len(layouts)] }
				gl := x.guardF32(nanSlice(1), lay(0))
				gx := x.guardF32(logits, lay(1))
				gy := x.guardI32(labels, lay(2))
				var gg *guarded
				var gradBuf nn.Buffer
				if withGrad {
					gg = x.guardF32(nanSlice(rows*cols), lay(3))
					gradBuf = gg.buf
				}
				x.b.SoftmaxCrossEntropy(gl.buf, gradBuf, gx.buf, gy.buf, rows, cols)
				x.sync()
				// exp and log are accurate to a few ulp; the loss is a sum of rows terms.
				closeTo(t, "loss", gl.values("loss"), []float32{float32(wantLoss)}, 1, tolerance{atol: 1e-6, rtol: 1e-5 + sumTol(rows+cols)})
				if withGrad {
					got := gg.values("grad")
					closeTo(t, "grad", got, wantGrad, cols, tolerance{atol: 1e-7 / float64(rows), rtol: 1e-5})
					closeTo(t, "grad vs reference", got, ref.f32(rg, rows*cols), cols, tolerance{atol: 1e-7 / float64(rows), rtol: 1e-5})
				}
				gx.unchanged("logits")
				gy.ints("labels")
			})
		}
	}
}

// testSoftmaxStability feeds logits near ±1e30: a max-subtracted softmax
// stays finite and exact where a naive one overflows to Inf or NaN.
func (s *suite) testSoftmaxStability(t *testing.T) {
	x := s.backend(t)
	const big = 1e30
	logits := []float32{
		big, -big, 0, // label 0: the winner, loss 0
		big, -big, 0, // label 1: loss 2e30
		big, big, -big, // label 0: a tie between two huge logits, loss log 2
		-big, -big, -big, // label 2: all equal and hugely negative, loss log 3
		3e37, -3e37, 1, // label 2: loss 3e37 − 1 ≈ 3e37
	}
	labels := []int32{0, 1, 0, 2, 2}
	rows, cols := 5, 3
	f := func(v float32) float64 { return float64(v) } // the logits as stored
	perRow := []float64{0, 2 * f(big), math.Ln2, math.Log(3), f(3e37) - 1}
	wantLoss := 0.0
	for _, v := range perRow {
		wantLoss += v / float64(rows)
	}
	third := float32(1.0 / 3 / float64(rows))
	half := float32(0.5 / float64(rows))
	one := float32(1 / float64(rows))
	wantGrad := []float32{
		0, 0, 0,
		one, -one, 0,
		-half, half, 0,
		third, third, -2 * third,
		one, 0, -one,
	}
	loss, grad := x.alloc(nn.Float32, 1), x.alloc(nn.Float32, rows*cols)
	x.b.SoftmaxCrossEntropy(loss, grad, x.upload(logits), x.upload(labels), rows, cols)
	x.sync()
	gotLoss, gotGrad := x.f32(loss, 1), x.f32(grad, rows*cols)
	for _, v := range append(gotLoss, gotGrad...) {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("non-finite output: loss %v grad %v", gotLoss, gotGrad)
		}
	}
	closeTo(t, "loss", gotLoss, []float32{float32(wantLoss)}, 1, tolerance{rtol: 1e-5, scale: []float64{wantLoss}})
	closeTo(t, "grad", gotGrad, wantGrad, cols, tolerance{atol: 1e-7, rtol: 1e-5})
}
