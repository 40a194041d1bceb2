package tfevents

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkHistogram is the run log's cost per tensor per epoch: the
// histogram of a weight (or its gradient) and its encoding. 50,176 is the
// tutorial MLP's first weight (64×784), 131,072 the cnn's largest (128×1024).
func BenchmarkHistogram(b *testing.B) {
	for _, n := range []int{50176, 131072} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 2))
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64() * 0.05)
			}
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				h := NewHistogram(v)
				if _, err := MarshalEvent(Event{Values: []Value{{Tag: "w", Kind: KindHistogram, Histogram: h}}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/value")
		})
	}
}
