package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mnist-go/mnist/nn"
)

// progress reports a training run to people: a progress bar with ETA and
// samples/s on a terminal, or like the PyTorch tutorial a plain line every
// 100 steps when the output is not a terminal. With quiet, only errors.
type progress struct {
	w       io.Writer
	epochs  int
	steps   int // per epoch
	batch   int
	samples int
	quiet   bool

	bar    *progressbar.ProgressBar
	window []float32 // losses since the last plain line
}

func newProgress(w io.Writer, epochs, steps, batch, samples int, quiet bool) *progress {
	return &progress{w: w, epochs: epochs, steps: steps, batch: batch, samples: samples, quiet: quiet}
}

// isTerminal reports whether w is a terminal (progress bars need one).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (p *progress) startBar(epoch int) {
	p.bar = progressbar.NewOptions(p.samples,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch+1, p.epochs)),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("samples"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

// Losses implements nn.Observer.
func (p *progress) Losses(epoch, first, global int, losses []float32) {
	if p.quiet {
		return
	}
	if isTerminal(p.w) {
		if p.bar == nil {
			p.startBar(epoch)
		}
		done := min((first+len(losses))*p.batch, p.samples)
		p.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f", epoch+1, p.epochs, losses[len(losses)-1]))
		_ = p.bar.Set(done)
		return
	}
	for i, l := range losses {
		p.window = append(p.window, l)
		step := first + i + 1
		if step%100 == 0 {
			var sum float64
			for _, v := range p.window {
				sum += float64(v)
			}
			fmt.Fprintf(p.w, "Epoch [%d/%d], Step [%d/%d], Loss: %.4f\n", epoch+1, p.epochs, step, p.steps, sum/float64(len(p.window)))
			p.window = p.window[:0]
		}
	}
}

// EpochEnd implements nn.Observer.
func (p *progress) EpochEnd(r nn.EpochResult) error {
	p.window = p.window[:0]
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	if p.quiet {
		return nil
	}
	fmt.Fprintf(p.w, "epoch %d/%d  lr %.4g  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %.2f s (%.0f samples/s)\n",
		r.Epoch+1, p.epochs, r.LR, r.TrainLoss, r.Test.Loss, 100*r.Test.Accuracy, r.Seconds, r.SamplesPerSec)
	return nil
}
