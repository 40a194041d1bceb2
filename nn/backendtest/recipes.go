package backendtest

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// Recipe is one training recipe of the backends' training tests: a
// learning-rate schedule and an optimiser.
type Recipe struct {
	Name      string
	Schedule  nn.Schedule
	Optimizer nn.OptimizerConfig
}

// Recipes are the recipes a backend's fused or replayed training must
// compute as its op-by-op training does: plain SGD with and without weight
// decay, momentum, Nesterov, Adam with and without weight decay, under the
// constant, cosine and step schedules (the cosine's horizon is 3 epochs).
var Recipes = []Recipe{
	{"sgd-constant", nn.Schedule{Name: "constant", Base: 0.05}, nn.OptimizerConfig{Name: "sgd"}},
	{"sgd-wd", nn.Schedule{Name: "constant", Base: 0.05}, nn.OptimizerConfig{Name: "sgd", WeightDecay: 1e-3}},
	{"momentum-cosine", nn.Schedule{Name: "cosine", Base: 0.05, Epochs: 3}, nn.OptimizerConfig{Name: "sgd", Momentum: 0.9}},
	{"nesterov-step", nn.Schedule{Name: "step", Base: 0.05, Every: 1, Gamma: 0.5}, nn.OptimizerConfig{Name: "sgd", Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3}},
	{"adam-cosine", nn.Schedule{Name: "cosine", Base: 0.01, Epochs: 3}, nn.OptimizerConfig{Name: "adam"}},
	{"adam-constant-wd", nn.Schedule{Name: "constant", Base: 0.01}, nn.OptimizerConfig{Name: "adam", WeightDecay: 1e-3}},
}

// RelDiff returns ‖a − b‖ / ‖b‖ (‖a − b‖ when b is 0): how far two runs'
// weights or gradients are apart, relative to the reference b.
func RelDiff(a, b []float32) float64 {
	var num, den float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		num += d * d
		den += float64(b[i]) * float64(b[i])
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}
