package cpu

import (
	"fmt"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
)

// TestConformanceForcedPaths runs the whole suite with every GEMM forced
// through each path, so that each is checked on every shape, transpose and
// epilogue of the suite, whichever the cost model would pick.
func TestConformanceForcedPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("the default paths are covered by TestConformance")
	}
	for _, p := range []path{denseDirect, sparseDirect, denseTransposed, sparseTransposed} {
		t.Run(fmt.Sprint("path", p), func(t *testing.T) {
			backendtest.Run(t, func(t *testing.T) nn.Backend {
				b := New()
				b.forcePath = &p
				return b
			})
		})
	}
}
