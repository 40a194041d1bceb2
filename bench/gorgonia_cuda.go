//go:build cuda

package bench

import (
	"errors"

	"github.com/mnist-go/mnist/mnist"
)

// gorgoniaLinked says whether this build links gorgonia. A CUDA build
// cannot: the cuda build tag also switches on gorgonia's own CUDA support,
// which needs cuDNN's headers (cudnn.h) that the CUDA toolkit lacks.
const gorgoniaLinked = false

// errNoGorgonia says why, and how to get the gorgonia ratio anyway.
var errNoGorgonia = errors.New("gorgonia is not linked into CUDA builds (the cuda build tag also turns on gorgonia's own CUDA code, which needs cuDNN's cudnn.h): " +
	"measure it with the pure-Go build (`mnist bench --backends gorgonia --json > gorgonia.json`) and pass that file with --baseline")

func newGorgoniaRunner(Config, *mnist.Dataset, *mnist.Dataset) (Runner, error) {
	return nil, errNoGorgonia
}

func newGorgoniaGEMM() (GEMM, error) { return nil, errNoGorgonia }
