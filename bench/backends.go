package bench

import (
	"github.com/mnist-go/mnist/cpu/naive"
	"github.com/mnist-go/mnist/nn"

	// The backends register themselves with nn: every one linked in is an entry.
	_ "github.com/mnist-go/mnist/cpu"
	_ "github.com/mnist-go/mnist/gpu"
)

// newNaive returns the naive baseline: cpu/naive's textbook loops, which the
// registry leaves out so that "auto" never picks them.
func newNaive() nn.Backend { return naive.New() }
