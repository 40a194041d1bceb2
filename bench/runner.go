// Package bench compares how fast the training engine's backends train the
// same network: every registered backend (cpu, cuda), a naive Go backend and
// the same network written with gorgonia.org/gorgonia, used as well as it can
// be. It is shared by `go test -bench` in this folder and `mnist bench`.
//
// Every entry is a Runner. All of them start from the same weights
// (nn.InitParams), visit the training set in the same order
// (mnist.Permutation), build the same float32 inputs from the pixels and run
// plain SGD, so their losses agree step for step (equivalence_test.go
// checks it) and only their speed differs.
package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// The names of the two baselines beside the registered backends.
const (
	Naive    = "naive"    // the same trainer on nn/naive's textbook loops
	Gorgonia = "gorgonia" // the network as a gorgonia ExprGraph on a TapeMachine
)

// Config is the workload every entry runs.
type Config struct {
	Spec  nn.Spec
	Batch int
	LR    float32 // plain SGD, no momentum, no weight decay
	Seed  uint64  // initial weights (nn.InitParams) and shuffle (mnist.Permutation)
	Norm  nn.Normalization
}

// TutorialConfig is the PyTorch tutorial's workload on rows×cols images: the
// MLP with the given hidden widths trained as the recipe table's
// "tutorial" (nn.Recipes: plain SGD at lr 0.005, batch 64, pixels fed as
// p/255), but with a fresh shuffle every epoch.
func TutorialConfig(rows, cols int, hidden []int) Config {
	r, _ := nn.FindRecipe("tutorial")
	return Config{
		Spec:  nn.MLP(rows, cols, hidden, mnist.DigitClasses),
		Batch: r.Config.Batch,
		LR:    r.Config.Schedule.Base,
		Seed:  r.Config.Seed,
		Norm:  r.Config.Norm,
	}
}

// Validate reports a workload that cannot run on train.
func (c Config) Validate(train *mnist.Dataset) error {
	if err := c.Spec.Validate(); err != nil {
		return err
	}
	if train.Pixels() != c.Spec.Inputs() {
		return fmt.Errorf("model takes %d×%d images but %s holds %d×%d images", c.Spec.Rows, c.Spec.Cols, train.Name, train.Rows, train.Cols)
	}
	if c.Batch < 1 || c.Batch > train.Len() {
		return fmt.Errorf("batch size %d: must be between 1 and the %d samples of %s", c.Batch, train.Len(), train.Name)
	}
	if !(c.LR > 0) {
		return fmt.Errorf("learning rate %g: must be positive", c.LR)
	}
	return nil
}

// Runner trains one network on one implementation, the unit the harness
// times. A Runner keeps a position (epoch, step): Step and Epoch continue
// from it, Reset goes back to the start. It is not safe for concurrent use.
type Runner interface {
	// Name is the entry's name: a registered backend, "naive" or "gorgonia".
	Name() string
	// Device describes the hardware and implementation, for people.
	Device() string
	// Step trains on the next batch, starting the next epoch (and its
	// shuffle) after the last batch of one. Work may still be queued on the
	// device when it returns: call Sync before reading a clock.
	Step() error
	// Epoch trains to the end of the epoch in progress (a whole epoch when
	// none is) and waits for the work to finish. It stops early with ctx's
	// error when ctx is cancelled.
	Epoch(ctx context.Context) error
	// Sync waits for queued work and returns the first error it met.
	Sync() error
	// Losses returns the loss of every step taken so far in the epoch in
	// progress (or the epoch just finished), in order.
	Losses() ([]float32, error)
	// TestAccuracy evaluates the current parameters on the test set.
	TestAccuracy() (float64, error)
	// Params returns the current parameters, laid out as nn.Spec.Params says.
	Params() ([]float32, error)
	// Reset restores the initial parameters and goes back to epoch 0, step 0.
	Reset() error
	// Close releases the runner and the device resources it holds.
	Close() error
}

// ErrUnknown is returned (wrapped) by Open for a name that is neither a
// registered backend nor a baseline.
var ErrUnknown = errors.New("unknown benchmark entry")

// Names returns every entry: the registered backends, preferred first, then
// the naive and gorgonia baselines.
func Names() []string {
	return append(nn.Backends(), Naive, Gorgonia)
}

// Open prepares entry name to train cfg on train and evaluate on test. A
// registered backend that cannot run here (cuda without a GPU) returns
// nn.Open's error, which says why.
func Open(name string, cfg Config, train, test *mnist.Dataset) (Runner, error) {
	if err := cfg.Validate(train); err != nil {
		return nil, err
	}
	switch name {
	case Gorgonia:
		return newGorgoniaRunner(cfg, train, test)
	case Naive:
		return NewBackendRunner(Naive, newNaive(), cfg, train, test)
	}
	if !isRegistered(name) {
		return nil, fmt.Errorf("%w %q: choose from %s", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	b, _, err := nn.Open(name)
	if err != nil {
		return nil, err
	}
	return NewBackendRunner(name, b, cfg, train, test)
}

// Check reports why entry name cannot run here, without loading data: a
// registered backend is opened and closed again, gorgonia is not linked
// into CUDA builds, naive always runs.
func Check(name string) error {
	switch name {
	case Naive:
		return nil
	case Gorgonia:
		if !gorgoniaLinked {
			_, err := newGorgoniaGEMM()
			return err
		}
		return nil
	}
	if !isRegistered(name) {
		return fmt.Errorf("%w %q: choose from %s", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	b, _, err := nn.Open(name)
	if err != nil {
		return err
	}
	return b.Close()
}

func isRegistered(name string) bool {
	for _, n := range nn.Backends() {
		if n == name {
			return true
		}
	}
	return false
}
