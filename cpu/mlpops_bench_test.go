package cpu

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
)

// BenchmarkMLPStepOps times every op of the tutorial network's training
// step (784-64-32-10, batch 64, plain SGD, as BenchmarkMLPStep runs it) on
// the real MNIST training set, on 1 and on 2 threads, through opTimer. Each
// op's wall µs per step is a metric named after it (gemm-MxNxK-op for the
// GEMMs); the per-op parallel efficiency is threads=1's time over twice
// threads=2's (bench/RESULTS.md, issue 20).
func BenchmarkMLPStepOps(b *testing.B) {
	train, err := mnist.Load(mnisttest.RealDataDir(b), mnist.Train)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 64
	order := make([]int32, train.Len())
	for i, v := range rand.New(rand.NewPCG(5, 6)).Perm(train.Len()) {
		order[i] = int32(v)
	}
	for _, threads := range []int{1, 2} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			back := New(WithThreads(threads))
			defer back.Close()
			timer := &opTimer{Backend: back, times: map[string][]time.Duration{}, clock: wallClock}
			m, err := backendtest.NewMLP(timer, []int{train.Pixels(), 64, 32, 10}, batch)
			if err != nil {
				b.Fatal(err)
			}
			if err := m.SetParams(m.InitParams(1)); err != nil {
				b.Fatal(err)
			}
			upload := func(t nn.DType, data any, n int) nn.Buffer {
				buf, err := back.Alloc(t, n)
				if err == nil {
					err = back.Upload(buf, data)
				}
				if err != nil {
					b.Fatal(err)
				}
				return buf
			}
			images := upload(nn.Uint8, train.Images, len(train.Images))
			labels := upload(nn.Uint8, train.Labels, len(train.Labels))
			ord := upload(nn.Int32, order, len(order))
			step := func(i int) { m.Step(images, labels, ord, (i*batch)%(train.Len()-batch+1), 0.005) }
			step(0)
			clear(timer.times)
			i := 0
			for b.Loop() {
				step(i)
				i++
			}
			total := map[string]time.Duration{}
			var names []string
			for name, ds := range timer.times {
				names = append(names, name)
				for _, d := range ds {
					total[name] += d
				}
			}
			sort.Slice(names, func(x, y int) bool { return total[names[x]] > total[names[y]] })
			for _, name := range names {
				b.ReportMetric(float64(total[name].Nanoseconds())/1e3/float64(b.N), strings.ReplaceAll(name, " ", "-")+"-µs")
			}
		})
	}
}
