package bench

import (
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"

	// The backends register themselves with nn: every one linked in is an entry.
	_ "github.com/mnist-go/mnist/cpu"
	_ "github.com/mnist-go/mnist/gpu"
)

// newNaive returns the naive baseline: nn/naive's textbook loops, which the
// registry leaves out so that "auto" never picks them.
func newNaive() nn.Backend { return naive.New() }
