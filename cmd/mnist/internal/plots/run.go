package plots

import (
	"path/filepath"

	"github.com/mnist-go/mnist/nn/tfevents"
)

// The scalar tags a training run logs once per epoch, with the epoch number
// (counting from 1) as the step. RunFromEvents reads these.
const (
	TagTrainLoss    = "train/epoch_loss"
	TagTestLoss     = "test/loss"
	TagTestAccuracy = "test/accuracy"
)

// Point is one value of a per-epoch series.
type Point struct {
	Epoch float64
	Value float64
}

// Run is what Curves draws for one training run: per-epoch series, any of
// which may be empty. TestAccuracy is a fraction (0..1) or a percentage;
// Curves shows fractions as percentages.
type Run struct {
	Name         string // legend label; may be empty for a single run
	TrainLoss    []Point
	TestLoss     []Point
	TestAccuracy []Point
}

// RunFromEvents builds a Run from a run's events, taking the epoch from each
// event's step (see TagTrainLoss).
func RunFromEvents(name string, events []tfevents.Event) Run {
	series := func(tag string) []Point {
		var pts []Point
		for _, p := range tfevents.Scalars(events, tag) {
			pts = append(pts, Point{Epoch: float64(p.Step), Value: p.Value})
		}
		return pts
	}
	return Run{
		Name:         name,
		TrainLoss:    series(TagTrainLoss),
		TestLoss:     series(TagTestLoss),
		TestAccuracy: series(TagTestAccuracy),
	}
}

// RunFromDir reads the event files in dir (see tfevents.ReadDir) and builds
// a Run named after the directory. A damaged or still-growing file yields
// the Run of its whole records together with the error, so a caller can
// warn and plot anyway.
func RunFromDir(dir string) (Run, error) {
	events, err := tfevents.ReadDir(dir)
	return RunFromEvents(filepath.Base(filepath.Clean(dir)), events), err
}

// empty reports whether the run has no points at all.
func (r Run) empty() bool {
	return len(r.TrainLoss) == 0 && len(r.TestLoss) == 0 && len(r.TestAccuracy) == 0
}
