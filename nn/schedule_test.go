package nn_test

import (
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// TestWarmupSchedule checks the warmup's linear ramp and that the named
// schedule then runs over the remaining epochs as if they were the run.
func TestWarmupSchedule(t *testing.T) {
	s := nn.Schedule{Name: "cosine", Base: 1, Epochs: 10, Warmup: 2}
	plain := nn.Schedule{Name: "cosine", Base: 1, Epochs: 8}
	for e, want := range []float32{1.0 / 3, 2.0 / 3} {
		if got := s.At(e); got != want {
			t.Errorf("warmup epoch %d: lr %g, want %g", e, got, want)
		}
	}
	for e := 2; e < 10; e++ {
		if got, want := s.At(e), plain.At(e-2); got != want {
			t.Errorf("epoch %d: lr %g, want the plain cosine's %g", e, got, want)
		}
	}
	if err := (nn.Schedule{Name: "constant", Base: 1, Epochs: 3, Warmup: 3}).Validate(); err == nil {
		t.Error("a warmup as long as the run was accepted")
	}
}
