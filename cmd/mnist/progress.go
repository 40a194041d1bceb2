package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mnist-go/mnist/nn"
)

// progress reports a training run to people: on a terminal, one line per
// epoch redrawn in place (bar, percentage, loss, samples/s, ETA) once the
// epoch has lasted long enough to be worth watching, so that 70 ms epochs
// print only their result and 15 s epochs show their progress; when the
// output is not a terminal, like the PyTorch tutorial, a plain line every 100
// steps. With quiet, only errors.
type progress struct {
	w       io.Writer
	epochs  int
	steps   int // per epoch
	batch   int
	samples int
	quiet   bool
	tty     bool
	width   int // of the terminal

	window     []float32 // losses since the last plain line
	epochStart time.Time
	lastDraw   time.Time
	drawn      bool // a progress line is on the screen
}

// A progress line appears once an epoch has run for progressDelay, and is
// redrawn at most every progressEvery.
const (
	progressDelay = 300 * time.Millisecond
	progressEvery = 100 * time.Millisecond
)

func newProgress(w io.Writer, epochs, steps, batch, samples int, quiet bool) *progress {
	return &progress{w: w, epochs: epochs, steps: steps, batch: batch, samples: samples, quiet: quiet,
		tty: isTerminal(w), width: terminalWidth(w)}
}

// isTerminal reports whether w is a terminal (progress lines need one).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Losses implements nn.Observer.
func (p *progress) Losses(epoch, first, global int, losses []float32) {
	if p.quiet || len(losses) == 0 {
		return
	}
	if p.tty {
		now := time.Now()
		if p.epochStart.IsZero() {
			p.epochStart = now
		}
		if now.Sub(p.epochStart) < progressDelay || now.Sub(p.lastDraw) < progressEvery {
			return
		}
		p.lastDraw, p.drawn = now, true
		done := min((first+len(losses))*p.batch, p.samples)
		fmt.Fprintf(p.w, "\r%s\x1b[K", progressLine(epoch, p.epochs, done, p.samples, losses[len(losses)-1], now.Sub(p.epochStart), p.width))
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

// progressLine is the in-place line of an epoch done/total samples in,
// elapsed time after it started, fitted to width columns:
//
//	epoch 3/10 [=========>          ] 47%  loss 0.1234  152k samples/s  ETA 2s
func progressLine(epoch, epochs, done, total int, loss float32, elapsed time.Duration, width int) string {
	frac := float64(done) / float64(max(total, 1))
	rate := float64(done) / max(elapsed.Seconds(), 1e-3)
	eta := time.Duration(float64(total-done) / max(rate, 1e-9) * float64(time.Second))
	head := fmt.Sprintf("epoch %d/%d ", epoch+1, epochs)
	tail := fmt.Sprintf(" %3.0f%%  loss %.4f  %s samples/s  ETA %s", 100*frac, loss, shortCount(rate), shortDuration(eta))
	barWidth := min(30, width-1-len(head)-len(tail)-2)
	if barWidth < 5 {
		line := head + strings.TrimLeft(tail, " ")
		if len(line) > width-1 {
			line = line[:max(width-1, 0)]
		}
		return line
	}
	filled := int(frac * float64(barWidth))
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	return head + "[" + bar + "]" + tail
}

// shortCount writes n with three significant digits and a k or M suffix.
func shortCount(n float64) string {
	switch {
	case n >= 1e6:
		return strconv.FormatFloat(n/1e6, 'f', max(0, 2-int(math.Log10(n/1e6))), 64) + "M"
	case n >= 1e3:
		return strconv.FormatFloat(n/1e3, 'f', max(0, 2-int(math.Log10(n/1e3))), 64) + "k"
	default:
		return strconv.FormatFloat(n, 'f', 0, 64)
	}
}

// shortDuration is a duration as people read a countdown: 4s, 2m05s, 1h02m.
func shortDuration(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
}

// EpochEnd implements nn.Observer.
func (p *progress) EpochEnd(r nn.EpochResult) error {
	p.window = p.window[:0]
	p.epochStart, p.lastDraw = time.Time{}, time.Time{}
	if p.quiet {
		return nil
	}
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K") // the epoch's result replaces its progress line
		p.drawn = false
	}
	fmt.Fprintf(p.w, "epoch %d/%d  lr %s  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %s (%s samples/s)\n",
		r.Epoch+1, p.epochs, strconv.FormatFloat(float64(r.LR), 'g', 4, 64), r.TrainLoss, r.Test.Loss, 100*r.Test.Accuracy, epochTime(r.Seconds), shortCount(r.SamplesPerSec))
	return nil
}

// epochTime is an epoch's duration: 70 ms, 1.25 s, 2m05s.
func epochTime(seconds float64) string {
	switch {
	case seconds < 1:
		return fmt.Sprintf("%.0f ms", 1000*seconds)
	case seconds < 60:
		return fmt.Sprintf("%.2f s", seconds)
	default:
		return shortDuration(time.Duration(seconds * float64(time.Second)))
	}
}
