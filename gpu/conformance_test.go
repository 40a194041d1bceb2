package gpu

import (
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
)

// TestConformanceEmu runs the backend conformance suite on the CUDA
// backend's host logic and kernels compiled for the CPU (the emulator), and
// in the cuda build with a device, inside TestCUDA, on the GPU itself.
func TestConformanceEmu(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite on the emulator takes a while: skipped with -short")
	}
	backendtest.Run(t, func(t *testing.T) nn.Backend {
		b, _ := openEmu(t)
		return b
	})
}
