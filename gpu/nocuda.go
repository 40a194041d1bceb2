//go:build !cuda

package gpu

import (
	"fmt"

	"github.com/mnist-go/mnist/nn"
)

func init() {
	nn.Register(Name, Priority, func() (nn.Backend, error) {
		_, err := Open()
		return nil, err
	})
}

// Available reports whether this binary was built with CUDA support.
const Available = false

// Open returns an error wrapping ErrNoCUDASupport: this binary was built
// without the cuda build tag.
func Open() (*Backend, error) {
	return nil, fmt.Errorf("%w", ErrNoCUDASupport)
}

// Probe returns an error wrapping ErrNoCUDASupport.
func Probe() (Info, error) {
	return Info{}, fmt.Errorf("%w", ErrNoCUDASupport)
}
