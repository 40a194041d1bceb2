package nn

import (
	"fmt"
	"math"
)

// OptimizerConfig chooses and configures an optimiser.
type OptimizerConfig struct {
	Name        string  // "sgd" or "adam"
	Momentum    float32 // sgd
	Nesterov    bool    // sgd, needs Momentum > 0
	WeightDecay float32 // both: L2 penalty added to the gradient, as torch.optim does
	Beta1       float32 // adam, default 0.9
	Beta2       float32 // adam, default 0.999
	Eps         float32 // adam, default 1e-8
}

// Validate reports a configuration no optimiser can run with.
func (c OptimizerConfig) Validate() error {
	switch c.Name {
	case "sgd":
		if c.Momentum < 0 || c.Momentum >= 1 || isNaN32(c.Momentum) {
			return fmt.Errorf("momentum %g: must be in [0, 1)", c.Momentum)
		}
		if c.Nesterov && c.Momentum == 0 {
			return fmt.Errorf("nesterov needs a momentum above 0 (set --momentum, e.g. 0.9)")
		}
	case "adam":
		if c.Beta1 < 0 || c.Beta1 >= 1 || c.Beta2 < 0 || c.Beta2 >= 1 {
			return fmt.Errorf("adam betas %g, %g: must be in [0, 1)", c.Beta1, c.Beta2)
		}
		if c.Eps <= 0 {
			return fmt.Errorf("adam eps %g: must be positive", c.Eps)
		}
	default:
		return fmt.Errorf("unknown optimizer %q: choose sgd or adam", c.Name)
	}
	if c.WeightDecay < 0 || isNaN32(c.WeightDecay) {
		return fmt.Errorf("weight decay %g: must be 0 or positive", c.WeightDecay)
	}
	return nil
}

func isNaN32(f float32) bool { return math.IsNaN(float64(f)) }

// WithDefaults fills Adam's betas and eps when they are zero.
func (c OptimizerConfig) WithDefaults() OptimizerConfig {
	if c.Name == "adam" {
		if c.Beta1 == 0 {
			c.Beta1 = 0.9
		}
		if c.Beta2 == 0 {
			c.Beta2 = 0.999
		}
		if c.Eps == 0 {
			c.Eps = 1e-8
		}
	}
	return c
}

// Optimizer updates a model's flat parameter vector from its gradients and
// keeps whatever state that needs (momentum, Adam's moments) on the backend.
type Optimizer struct {
	Config OptimizerConfig

	backend Backend
	state   []Buffer // sgd with momentum: velocity; adam: m, v
}

// NewOptimizer allocates the optimiser's state for n parameters on b.
func NewOptimizer(b Backend, cfg OptimizerConfig, n int) (*Optimizer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &Optimizer{Config: cfg, backend: b}
	slots := 0
	switch {
	case cfg.Name == "adam":
		slots = 2
	case cfg.Momentum != 0:
		slots = 1
	}
	for i := 0; i < slots; i++ {
		buf, err := b.Alloc(Float32, n)
		if err != nil {
			o.Close()
			return nil, fmt.Errorf("allocate optimizer state (%d float32): %w", n, err)
		}
		o.state = append(o.state, buf)
	}
	return o, nil
}

// StateNames names the state buffers, in State order, for checkpoints.
func (o *Optimizer) StateNames() []string {
	switch len(o.state) {
	case 1:
		return []string{"optimizer.momentum_buffer"}
	case 2:
		return []string{"optimizer.exp_avg", "optimizer.exp_avg_sq"}
	}
	return nil
}

// State returns the state buffers (momentum, or Adam's first and second moments).
func (o *Optimizer) State() []Buffer { return o.state }

// Step queues update number t (1 for the first) of params from grads at
// learning rate lr; Adam's bias correction depends on t.
func (o *Optimizer) Step(params, grads Buffer, lr float32, t int) {
	c := o.Config
	if c.Name == "adam" {
		o.backend.Adam(params, grads, o.state[0], o.state[1], lr, c.Beta1, c.Beta2, c.Eps, c.WeightDecay, t)
		return
	}
	var velocity Buffer
	if len(o.state) > 0 {
		velocity = o.state[0]
	}
	o.backend.SGD(params, grads, velocity, lr, c.Momentum, c.WeightDecay, c.Nesterov)
}

// Close frees the state.
func (o *Optimizer) Close() {
	for _, b := range o.state {
		o.backend.Free(b)
	}
	o.state = nil
}

// Schedule gives the learning rate for each epoch.
type Schedule struct {
	Name   string  // "constant", "cosine" (to 0 over the run) or "step"
	Base   float32 // learning rate of the first epoch
	Epochs int     // length of the run, for cosine
	Every  int     // step: multiply by Gamma every Every epochs
	Gamma  float32 // step

	// Warmup is a number of first epochs whose learning rate rises
	// linearly towards Base, (e+1)/(Warmup+1)·Base in epoch e, before the
	// named schedule runs over the epochs that remain (a warmup then cosine
	// annealing is the per-epoch form of PyTorch's OneCycleLR). Large
	// learning rates diverge less when the first updates are small.
	Warmup int `json:",omitempty"`
}

// Validate reports a schedule that cannot run.
func (s Schedule) Validate() error {
	if !(s.Base > 0) || math.IsInf(float64(s.Base), 0) {
		return fmt.Errorf("learning rate %g: must be a positive number", s.Base)
	}
	if s.Warmup < 0 || (s.Warmup > 0 && s.Warmup >= s.Epochs) {
		return fmt.Errorf("warmup of %d epochs: must be at least 0 and shorter than the run (%d epochs)", s.Warmup, s.Epochs)
	}
	switch s.Name {
	case "constant", "cosine":
	case "step":
		if s.Every < 1 || !(s.Gamma > 0) {
			return fmt.Errorf("step schedule needs every ≥ 1 and gamma > 0 (have %d, %g)", s.Every, s.Gamma)
		}
	default:
		return fmt.Errorf("unknown learning-rate schedule %q: choose constant, cosine or step", s.Name)
	}
	return nil
}

// At returns the learning rate for epoch (0-based).
func (s Schedule) At(epoch int) float32 {
	if s.Warmup > 0 {
		if epoch < s.Warmup {
			return s.Base * float32(epoch+1) / float32(s.Warmup+1)
		}
		epoch -= s.Warmup
		s.Epochs -= s.Warmup
	}
	switch s.Name {
	case "cosine":
		if s.Epochs <= 1 {
			return s.Base
		}
		// Cosine annealing from Base towards 0, sampled at epoch starts and
		// never reaching 0 within the run.
		frac := float64(epoch) / float64(s.Epochs)
		return float32(float64(s.Base) * 0.5 * (1 + math.Cos(math.Pi*frac)))
	case "step":
		return s.Base * float32(math.Pow(float64(s.Gamma), float64(epoch/s.Every)))
	}
	return s.Base
}
