package tfevents

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestScalarsMatchWriteEvent: a batch written by Scalars is, byte for byte,
// the scalar events WriteEvent encodes one at a time (appendEvent) with the
// batch's wall time, for
// awkward tags, steps and values (zero, negative, NaN, -0, long tags whose
// lengths take two-byte varints), across the flush threshold.
func TestScalarsMatchWriteEvent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	wall := time.Unix(1700000000, 123456789)
	clock := func() time.Time { return wall }
	for _, tag := range []string{"train/loss", "", "x", strings.Repeat("t", 200)} {
		for _, first := range []int64{0, 1, -3, 1 << 40} {
			values := []float32{0, -1.5, float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(1))}
			for range 3000 {
				values = append(values, rng.Float32()*10-5)
			}
			var one, batch bytes.Buffer
			w1 := newWriter(&one, "one", config{now: clock})
			for i, v := range values {
				e := Event{Step: first + int64(i), Values: []Value{{Tag: tag, Kind: KindScalar, Scalar: float64(v)}}}
				if err := w1.WriteEvent(e); err != nil {
					t.Fatal(err)
				}
			}
			w2 := newWriter(&batch, "batch", config{now: clock})
			if err := w2.Scalars(tag, first, values[:7]); err != nil {
				t.Fatal(err)
			}
			if err := w2.Scalars(tag, first+7, values[7:]); err != nil {
				t.Fatal(err)
			}
			if err := w1.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w2.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(one.Bytes(), batch.Bytes()) {
				t.Fatalf("tag %q, first step %d: Scalars wrote %d bytes unlike WriteEvent's %d", tag, first, batch.Len(), one.Len())
			}
			r := NewReader(bytes.NewReader(batch.Bytes()), "batch")
			for i := range values {
				e, err := r.Next()
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				got := float32(e.Values[0].Scalar)
				if e.Step != first+int64(i) || math.Float32bits(got) != math.Float32bits(values[i]) {
					t.Fatalf("event %d: step %d value %v, want step %d value %v", i, e.Step, got, first+int64(i), values[i])
				}
			}
		}
	}
}

// TestScalarsAfterClose: a closed writer refuses Scalars as it does Scalar.
func TestScalarsAfterClose(t *testing.T) {
	w := newWriter(&bytes.Buffer{}, "closed", config{now: time.Now})
	w.Close()
	if err := w.Scalars("a", 1, []float32{1}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Scalars after Close: %v", err)
	}
}

func BenchmarkScalars(b *testing.B) {
	losses := make([]float32, 938) // an MNIST epoch of batches of 64
	for i := range losses {
		losses[i] = 2.3 / float32(i+1)
	}
	b.Run("WriteEvent", func(b *testing.B) { // an event at a time, built and encoded
		w := newWriter(io.Discard, "b", config{now: time.Now})
		for b.Loop() {
			for i, v := range losses {
				w.WriteEvent(Event{Step: int64(i + 1), Values: []Value{{Tag: "train/loss", Kind: KindScalar, Scalar: float64(v)}}})
			}
		}
	})
	b.Run("Scalars", func(b *testing.B) {
		w := newWriter(io.Discard, "b", config{now: time.Now})
		for b.Loop() {
			w.Scalars("train/loss", 1, losses)
		}
	})
}
