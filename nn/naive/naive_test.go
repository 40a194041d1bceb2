package naive_test

import (
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/backendtest"
	"github.com/mnist-go/mnist/nn/naive"
)

// TestConformance runs the suite on the reference itself: the comparisons
// with the reference are then trivial, but the independent checks (known
// products, formulas for the optimisers, softmax, gather, finite-difference
// gradients, guards, errors) are not.
func TestConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) nn.Backend { return naive.New() })
}
