package bench

import (
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// CNNConfig is the convolutional workload on rows×cols images: nn.CNN
// trained with plain SGD at lr 0.01 (what every entry, gorgonia's
// VanillaSolver included, runs alike), batch 64, pixels fed as p/255, a
// fresh shuffle every epoch. `mnist train --model cnn` trains the same
// network with Adam; the optimiser's cost is a rounding error beside the
// convolutions'.
func CNNConfig(rows, cols int) Config {
	return Config{
		Spec:  nn.CNN(rows, cols, mnist.DigitClasses),
		Batch: 64,
		LR:    0.01,
		Seed:  1,
	}
}
