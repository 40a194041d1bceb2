package cpu_test

import (
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/cpu/naive"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
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
