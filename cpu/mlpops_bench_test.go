package cpu_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/nn"
)

// opClock is an nn.Backend that times each op of a training step on the
// cpu backend below it (its ops run to completion before they return), by
// the op's place in the step: gemm#1 is the step's first GEMM, and so on.
type opClock struct {
	nn.Backend
	calls map[string]int // op name → calls so far in this step
	spent map[string]time.Duration
	order []string
}

func newOpClock(b nn.Backend) *opClock {
	return &opClock{Backend: b, calls: map[string]int{}, spent: map[string]time.Duration{}}
}

// startStep restarts the numbering of ops for the next step.
func (c *opClock) startStep() { clear(c.calls) }

func (c *opClock) time(op string, f func()) {
	c.calls[op]++
	name := fmt.Sprintf("%s#%d", op, c.calls[op])
	if _, ok := c.spent[name]; !ok {
		c.order = append(c.order, name)
	}
	start := time.Now()
	f()
	c.spent[name] += time.Since(start)
}

func (c *opClock) Gemm(g nn.Gemm) { c.time("gemm", func() { c.Backend.Gemm(g) }) }
func (c *opClock) SoftmaxCrossEntropy(loss, grad, logits, labels nn.Buffer, rows, cols int) {
	c.time("xent", func() { c.Backend.SoftmaxCrossEntropy(loss, grad, logits, labels, rows, cols) })
}
func (c *opClock) ColumnSums(dst, src nn.Buffer, rows, cols int) {
	c.time("colsums", func() { c.Backend.ColumnSums(dst, src, rows, cols) })
}
func (c *opClock) Gather(x, y, images, labels, order nn.Buffer, start, rows, pixels int, scale, shift float32) {
	c.time("gather", func() { c.Backend.Gather(x, y, images, labels, order, start, rows, pixels, scale, shift) })
}
func (c *opClock) SGD(params, grads, velocity nn.Buffer, lr, momentum, weightDecay float32, nesterov bool) {
	c.time("sgd", func() { c.Backend.SGD(params, grads, velocity, lr, momentum, weightDecay, nesterov) })
}

// BenchmarkMLPStepOps times every op of the tutorial network's training
// step (BenchmarkMLPStep's) on 1 and on 2 threads, reporting each op's
// µs per step as a metric (gemm#1 is the first layer's forward GEMM, and so
// on in the order the step calls them): the per-op parallel efficiency is
// threads=1's time over twice threads=2's.
func BenchmarkMLPStepOps(b *testing.B) {
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			back := cpu.New(cpu.WithThreads(threads))
			defer back.Close()
			clock := newOpClock(back)
			_, step := mlpStep(b, clock, benchImages)
			step(0)
			clear(clock.spent)
			i := 0
			for b.Loop() {
				clock.startStep()
				step(i)
				i++
			}
			names := append([]string(nil), clock.order...)
			sort.SliceStable(names, func(x, y int) bool { return clock.spent[names[x]] > clock.spent[names[y]] })
			for _, name := range names {
				b.ReportMetric(float64(clock.spent[name].Nanoseconds())/1e3/float64(b.N), strings.ReplaceAll(name, "#", "")+"-µs")
			}
		})
	}
}
