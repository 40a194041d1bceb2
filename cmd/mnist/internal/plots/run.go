package plots

import (
	"errors"
	"fmt"
	"io"
	"os"
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

// RunFromDir reads the event files in dir (in name order, as
// tfevents.ReadDir does) and builds a Run named after the directory. The
// files are streamed: only the three series are kept, 16 bytes a point, so
// that a run of 200,000 epochs costs megabytes, not the events' gigabyte. A
// damaged or still-growing file yields the Run of its whole records
// together with the error, so a caller can warn and plot anyway.
func RunFromDir(dir string) (Run, error) {
	run := Run{Name: filepath.Base(filepath.Clean(dir))}
	files, err := tfevents.EventFiles(dir)
	if err != nil {
		return run, err
	}
	if len(files) == 0 {
		return run, fmt.Errorf("tfevents: no event files (events.out.tfevents.*) in %s; is it a run directory written by `mnist train --logdir`?", dir)
	}
	var errs []error
	for _, path := range files {
		if err := run.addFile(path); err != nil {
			errs = append(errs, err)
		}
	}
	return run, errors.Join(errs...)
}

// addFile appends the per-epoch scalars of one event file to r, up to its
// first damaged record.
func (r *Run) addFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("tfevents: %w", err)
	}
	defer f.Close()
	rd := tfevents.NewReader(f, path)
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		for _, v := range e.Values {
			if v.Kind != tfevents.KindScalar {
				continue
			}
			p := Point{Epoch: float64(e.Step), Value: v.Scalar}
			switch v.Tag {
			case TagTrainLoss:
				r.TrainLoss = append(r.TrainLoss, p)
			case TagTestLoss:
				r.TestLoss = append(r.TestLoss, p)
			case TagTestAccuracy:
				r.TestAccuracy = append(r.TestAccuracy, p)
			}
		}
	}
}
