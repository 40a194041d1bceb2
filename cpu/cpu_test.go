package cpu_test

import (
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
	"github.com/mnist-go/mnist/nn/naive"
)

func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) nn.Backend { return cpu.New() })
}

// TestConformanceOneThread runs the suite with the pool disabled, so the
// single-worker split of every op is checked too.
func TestConformanceOneThread(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) nn.Backend { return cpu.New(cpu.WithThreads(1)) })
}

// TestConformanceThreeThreads uses more workers than this machine may have
// cores, so that splits into odd shares are checked, and helpers that park
// after every op (no polling), so that waking them is too.
func TestConformanceThreeThreads(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) nn.Backend {
		b := cpu.New(cpu.WithThreads(3), cpu.WithSpin(0))
		if b.Threads() != 3 {
			t.Fatalf("Threads() = %d, want 3", b.Threads())
		}
		return b
	})
}

// TestReferenceConformance checks the reference against the suite's
// independent checks (formulas, finite differences, guards, errors).
func TestReferenceConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) nn.Backend { return naive.New() })
}

// Wrap shares the caller's memory: nothing is copied, and Free releases
// only the buffer.
func TestWrapSharesMemory(t *testing.T) {
	b := cpu.New()
	defer b.Close()
	pixels := []uint8{0, 10, 20, 30}
	buf, err := b.Wrap(pixels)
	if err != nil {
		t.Fatal(err)
	}
	if buf.DType() != nn.Uint8 || buf.Len() != 4 {
		t.Fatalf("wrapped %v × %d", buf.DType(), buf.Len())
	}
	pixels[2] = 99
	got := make([]uint8, 4)
	if err := b.Download(got, buf); err != nil || got[2] != 99 {
		t.Errorf("the wrapped buffer does not see the slice's change: %v, %v", got, err)
	}
	b.Free(buf)
	if err := b.Sync(); err != nil {
		t.Errorf("Free of a wrapped buffer: %v", err)
	}
	if _, err := b.Wrap([]float64{1}); err == nil {
		t.Error("wrapping a []float64 succeeded")
	}
}
