package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mnist-go/mnist/cmd/mnist/internal/plots"
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/tfevents"
)

// runLog records a training run where TensorBoard (`tensorboard --logdir
// runs`) and `mnist plot` read it, with the tags the PyTorch tutorial's
// users expect, and draws curves.png and confusion.png at the end.
//
// Step numbers: train/loss uses the run-wide step (1-based); the per-epoch
// tags use the epoch number (1-based).
type runLog struct {
	dir    string
	w      *tfevents.Writer
	test   *mnist.Dataset
	spec   nn.Spec
	info   nn.ModelInfo // for the class names
	epochs []nn.EpochResult
	err    error // first error: logging never stops training, but it is reported
}

// defaultLogDir is where a run logs without --logdir: runs/<local time>.
func defaultLogDir(now time.Time) string {
	return filepath.Join("runs", now.Format("20060102-150405"))
}

// hparamMetrics are the scalar tags whose last values TensorBoard's HParams
// tab shows beside each run's hyperparameters.
var hparamMetrics = []string{"test/accuracy", "test/loss", "train/epoch_loss"}

// newRunLog opens the event file in dir and writes what is known before
// training: the model graph (the Graphs tab), the hyperparameters for the
// HParams tab and, with the model summary, as text, and a grid of the first
// training digits in the order the first epoch visits them.
//
// info is the model file's description of the run: its Spec and its
// classes' names.
func newRunLog(dir string, hyper map[string]string, info nn.ModelInfo, train, test *mnist.Dataset, order []int32) (*runLog, error) {
	spec := info.Spec
	w, err := tfevents.NewWriter(dir)
	if err != nil {
		return nil, err
	}
	l := &runLog{dir: dir, w: w, test: test, spec: spec, info: info}
	l.record(w.Graph(spec.Graph()))
	l.record(w.HParams(hparamValues(hyper), hparamMetrics))
	var md strings.Builder
	md.WriteString("| hyperparameter | value |\n|---|---|\n")
	for _, k := range sortedKeys(hyper) {
		fmt.Fprintf(&md, "| %s | %s |\n", k, hyper[k])
	}
	var table bytes.Buffer
	spec.WriteSummary(&table)
	md.WriteString("\n```\n" + table.String() + "```\n")
	l.record(w.Text("hyperparameters", 0, md.String()))

	n := min(64, len(order))
	images, labels := make([][]uint8, n), make([]string, n)
	for i, idx := range order[:n] {
		images[i] = train.Image(int(idx))
		labels[i] = info.ClassName(int(train.Labels[idx]))
	}
	l.record(l.grid("train/images", 0, images, labels, train.Cols))
	return l, l.err
}

func (l *runLog) record(err error) {
	if err != nil && l.err == nil {
		l.err = err
	}
}

func (l *runLog) grid(tag string, step int64, images [][]uint8, labels []string, cols int) error {
	if len(images) == 0 {
		return nil
	}
	img, err := plots.Grid(images, 0, 8, plots.GridOptions{Width: cols, Scale: 2, Gap: 2, Labels: labels})
	if err != nil {
		return err
	}
	return l.w.Image(tag, step, img)
}

// Losses implements nn.Observer: one train/loss scalar per step, those
// read back together logged together (tfevents.Writer.Scalars).
func (l *runLog) Losses(_, _, global int, losses []float32) {
	l.record(l.w.Scalars("train/loss", int64(global+1), losses))
}

// EpochParams implements nn.ParamObserver: a histogram of every parameter
// tensor and of its gradient (the epoch's last step's), tagged with the
// state_dict key as PyTorch users write them (model.1.weight,
// model.1.weight.grad), at the epoch number.
func (l *runLog) EpochParams(epoch int, params, grads []float32) error {
	step := int64(epoch + 1)
	for _, p := range l.spec.Params() {
		l.record(l.w.Histogram(p.Name, step, params[p.Offset:p.Offset+p.Size()]))
		l.record(l.w.Histogram(p.Name+".grad", step, grads[p.Offset:p.Offset+p.Size()]))
	}
	return nil // logging problems are reported at Close, never stop training
}

// hparamValues types the run's settings for the HParams tab: numbers as
// numbers (so runs can be sorted and filtered by them), true and false as
// booleans, the rest as text.
func hparamValues(hyper map[string]string) map[string]any {
	out := make(map[string]any, len(hyper))
	for k, v := range hyper {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[k] = f
		} else if b, err := strconv.ParseBool(v); err == nil && (v == "true" || v == "false") {
			out[k] = b
		} else {
			out[k] = v
		}
	}
	return out
}

// EpochEnd implements nn.Observer: the epoch's scalars and the test digits
// it got wrong.
func (l *runLog) EpochEnd(r nn.EpochResult) error {
	l.epochs = append(l.epochs, r)
	step := int64(r.Epoch + 1)
	for _, s := range []struct {
		tag string
		v   float64
	}{
		{"train/epoch_loss", r.TrainLoss},
		{"test/loss", r.Test.Loss},
		{"test/accuracy", r.Test.Accuracy},
		{"train/lr", float64(r.LR)},
		{"perf/samples_per_sec", r.SamplesPerSec},
	} {
		l.record(l.w.Scalar(s.tag, step, s.v))
	}
	var images [][]uint8
	var labels []string
	for i, p := range r.Test.Predictions {
		if len(images) == 64 {
			break
		}
		if want := l.test.Labels[i]; int(p) != int(want) {
			images = append(images, l.test.Image(i))
			labels = append(labels, l.info.ClassName(int(want))+"→"+l.info.ClassName(int(p)))
		}
	}
	l.record(l.grid("test/misclassified", step, images, labels, l.test.Cols))
	l.record(l.w.Flush())
	return nil // logging problems are reported at Close, never stop training
}

// Close draws curves.png and confusion.png from the epochs seen, records
// how the run ended (runErr nil: it succeeded) for the HParams tab and
// closes the event file. It returns the first error met while logging.
func (l *runLog) Close(runErr error) error {
	status := tfevents.StatusSuccess
	if runErr != nil {
		status = tfevents.StatusFailure
	}
	l.record(l.w.HParamsEnd(status))
	if len(l.epochs) > 0 {
		run := plots.Run{Name: filepath.Base(l.dir)}
		for _, r := range l.epochs {
			e := float64(r.Epoch + 1)
			run.TrainLoss = append(run.TrainLoss, plots.Point{Epoch: e, Value: r.TrainLoss})
			run.TestLoss = append(run.TestLoss, plots.Point{Epoch: e, Value: r.Test.Loss})
			run.TestAccuracy = append(run.TestAccuracy, plots.Point{Epoch: e, Value: r.Test.Accuracy})
		}
		l.record(plots.Curves(filepath.Join(l.dir, "curves.png"), []plots.Run{run}, 0, 0))
		last := l.epochs[len(l.epochs)-1]
		n := l.spec.Classes
		l.record(plots.Confusion(filepath.Join(l.dir, "confusion.png"), nn.Confusion(l.test.Labels, last.Test.Predictions, n), classLabels(l.info, n)))
	}
	l.record(l.w.Close())
	return l.err
}

// observers fans nn.Observer calls out to several observers.
type observers []nn.Observer

func (o observers) Losses(epoch, first, global int, losses []float32) {
	for _, x := range o {
		x.Losses(epoch, first, global, losses)
	}
}

// withParams is observers that also hands the parameters and gradients
// at each epoch's end to p (the run log's histograms): the trainer
// downloads them only for an nn.ParamObserver, so a run without a run log
// does not pay for it.
type withParams struct {
	observers
	p nn.ParamObserver
}

// EpochParams implements nn.ParamObserver.
func (o withParams) EpochParams(epoch int, params, grads []float32) error {
	return o.p.EpochParams(epoch, params, grads)
}

func (o observers) EpochEnd(r nn.EpochResult) error {
	for _, x := range o {
		if err := x.EpochEnd(r); err != nil {
			return err
		}
	}
	return nil
}
