package nn

import (
	"fmt"
	"github.com/mnist-go/mnist/mnist"
	"math"
)

// Evaluation is a model's performance on one data set.
type Evaluation struct {
	Loss        float64 // mean cross-entropy
	Accuracy    float64 // fraction of samples classified correctly
	Correct     int
	Samples     int
	Predictions []int32 // predicted class per sample, in data set order
}

// Evaluator runs a model over a resident data set in batches, reusing its buffers.
type Evaluator struct {
	model  *Model
	data   *DeviceData
	norm   Normalization
	batch  int
	x      Buffer // batch × pixels
	y      Buffer // batch labels
	losses Buffer // one mean loss per batch
	preds  Buffer // one prediction per sample
	host   []float32
}

// NewEvaluator prepares to evaluate m on d in batches of at most m.MaxBatch() samples.
func NewEvaluator(m *Model, d *DeviceData, norm Normalization) (*Evaluator, error) {
	if d.Pixels() != m.Spec.Inputs() {
		return nil, fmt.Errorf("%s has %d×%d images but the model takes %d×%d", d.Source.Name, d.Source.Rows, d.Source.Cols, m.Spec.Rows, m.Spec.Cols)
	}
	if err := checkLabels(d.Source, m.Spec); err != nil {
		return nil, err
	}
	e := &Evaluator{model: m, data: d, norm: norm, batch: min(m.MaxBatch(), d.Len())}
	b := m.Backend
	steps := (d.Len() + e.batch - 1) / e.batch
	for _, a := range []struct {
		dst *Buffer
		t   DType
		n   int
	}{
		{&e.x, Float32, e.batch * d.Pixels()},
		{&e.y, Int32, e.batch},
		{&e.losses, Float32, steps},
		{&e.preds, Int32, d.Len()},
	} {
		buf, err := b.Alloc(a.t, a.n)
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("allocate evaluation buffers: %w", err)
		}
		*a.dst = buf
	}
	e.host = make([]float32, steps)
	return e, nil
}

// Close frees the evaluator's buffers (not the model's or the data's).
func (e *Evaluator) Close() {
	for _, buf := range []Buffer{e.x, e.y, e.losses, e.preds} {
		if buf != nil {
			e.model.Backend.Free(buf)
		}
	}
	e.x, e.y, e.losses, e.preds = nil, nil, nil, nil
}

// Run evaluates the model's current parameters on the whole data set.
func (e *Evaluator) Run() (*Evaluation, error) {
	b, m, d := e.model.Backend, e.model, e.data
	n, classes := d.Len(), m.Spec.Classes
	scale, shift := e.norm.ScaleShift()
	for step, start := 0, 0; start < n; step, start = step+1, start+e.batch {
		rows := min(e.batch, n-start)
		b.Gather(e.x, e.y, d.Images, d.Labels, d.Identity, start, rows, d.Pixels(), scale, shift)
		logits := m.Forward(e.x, rows)
		b.SoftmaxCrossEntropy(e.losses.Slice(step, 1), nil, logits, e.y, rows, classes)
		b.Argmax(e.preds.Slice(start, rows), logits, rows, classes)
	}
	preds := make([]int32, n)
	if err := DownloadAll(b, Transfer{preds, e.preds}, Transfer{e.host, e.losses}); err != nil {
		return nil, fmt.Errorf("evaluate on %s: %w", d.Source.Name, err)
	}
	ev := &Evaluation{Samples: n, Predictions: preds}
	var lossSum float64
	for step, l := range e.host {
		rows := min(e.batch, n-step*e.batch)
		lossSum += float64(l) * float64(rows)
	}
	ev.Loss = lossSum / float64(n)
	for i, p := range preds {
		if int(p) == int(d.Source.Labels[i]) {
			ev.Correct++
		}
	}
	ev.Accuracy = float64(ev.Correct) / float64(n)
	if math.IsNaN(ev.Loss) || math.IsInf(ev.Loss, 0) {
		return ev, fmt.Errorf("evaluate on %s: the loss is %v: the parameters are not finite", d.Source.Name, ev.Loss)
	}
	return ev, nil
}

// Confusion returns the confusion matrix of predictions against labels:
// m[true][predicted] counts samples.
func Confusion(labels []uint8, preds []int32, classes int) [][]int {
	m := make([][]int, classes)
	for i := range m {
		m[i] = make([]int, classes)
	}
	for i, p := range preds {
		if int(p) < classes {
			m[labels[i]][p]++
		}
	}
	return m
}

// checkLabels refuses data with labels the model has no output for, before
// a backend's loss kernel meets one.
func checkLabels(ds *mnist.Dataset, spec Spec) error {
	for i, l := range ds.Labels {
		if int(l) >= spec.Classes {
			return fmt.Errorf("%s has label %d (sample %d) but the model has %d classes, 0 to %d: use a model trained on data with these classes",
				ds.Name, l, i, spec.Classes, spec.Classes-1)
		}
	}
	return nil
}
