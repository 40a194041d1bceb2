package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// The default recipe: the tutorial's architecture trained to ≥ 97.5% test
// accuracy within 10 epochs (README, "Choosing the defaults", says why).
const (
	defaultEpochs    = 10
	defaultBatch     = 64
	defaultLR        = 0.05
	defaultOptimizer = "sgd"
	defaultMomentum  = 0.9
	defaultSchedule  = "cosine"
)

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a model and save it (safetensors, loadable by PyTorch)",
		Description: "Trains on the training split, reports test loss and accuracy after every epoch and saves\n" +
			"the weights with the tutorial's PyTorch names. --preset tutorial reproduces the PyTorch tutorial\n" +
			"exactly (100 epochs, plain SGD, lr 0.005, batch 64, no shuffle, no normalisation); flags given\n" +
			"explicitly override the preset.",
		Flags: append(backendFlags(),
			&cli.StringFlag{Name: "model", Value: "mlp", Usage: "architecture: mlp"},
			&cli.StringFlag{Name: "hidden", Value: "64,32", Usage: "hidden layer widths of the mlp"},
			&cli.IntFlag{Name: "epochs", Value: defaultEpochs, Usage: "passes over the training set"},
			&cli.IntFlag{Name: "batch", Value: defaultBatch, Usage: "samples per step"},
			&cli.Float64Flag{Name: "lr", Value: defaultLR, Usage: "learning rate (of the first epoch, see --schedule)"},
			&cli.StringFlag{Name: "schedule", Value: defaultSchedule, Usage: "learning-rate schedule: constant, cosine or step"},
			&cli.StringFlag{Name: "optimizer", Value: defaultOptimizer, Usage: "sgd or adam"},
			&cli.Float64Flag{Name: "momentum", Value: defaultMomentum, Usage: "sgd momentum (0 for plain SGD)"},
			&cli.BoolFlag{Name: "nesterov", Usage: "sgd with Nesterov momentum"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "L2 penalty added to the gradient"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the initialisation and the shuffle"},
			&cli.BoolFlag{Name: "no-shuffle", Usage: "visit the training set in file order every epoch"},
			&cli.BoolFlag{Name: "no-normalize", Usage: "feed pixels as p/255 instead of normalising with MNIST's mean and std"},
			&cli.StringFlag{Name: "preset", Usage: "tutorial: the PyTorch tutorial's exact settings"},
			&cli.StringFlag{Name: "out", Value: "model.safetensors", Usage: "where to save the trained model"},
			&cli.BoolFlag{Name: "json", Usage: "progress to stderr, one JSON object with the results to stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		),
		Action: trainAction,
	}
}

// trainOptions is the parsed, validated command line of `mnist train`.
type trainOptions struct {
	spec    nn.Spec
	cfg     nn.TrainConfig
	backend string
	out     string
	json    bool
	quiet   bool
}

// applyPreset sets the preset's values on every flag the user did not set.
func applyPreset(c *cli.Context) error {
	switch p := c.String("preset"); p {
	case "":
		return nil
	case "tutorial":
		preset := map[string]string{
			"epochs": "100", "batch": "64", "lr": "0.005", "optimizer": "sgd", "momentum": "0",
			"schedule": "constant", "no-shuffle": "true", "no-normalize": "true", "hidden": "64,32",
		}
		for name, v := range preset {
			if !c.IsSet(name) {
				if err := c.Set(name, v); err != nil {
					return err
				}
			}
		}
		return nil
	default:
		return usageErrorf("unknown preset %q: the available preset is tutorial", p)
	}
}

func parseTrainOptions(c *cli.Context, rows, cols int) (*trainOptions, error) {
	if err := applyPreset(c); err != nil {
		return nil, err
	}
	hidden, err := nn.ParseHidden(c.String("hidden"))
	if err != nil {
		return nil, usageError{err}
	}
	spec := nn.Spec{Model: c.String("model"), Rows: rows, Cols: cols, Hidden: hidden, Classes: mnist.Classes}
	if err := spec.Validate(); err != nil {
		return nil, usageError{err}
	}
	norm := nn.MNISTNormalization
	if c.Bool("no-normalize") {
		norm = nn.Normalization{}
	}
	cfg := nn.TrainConfig{
		Epochs:   c.Int("epochs"),
		Batch:    c.Int("batch"),
		Schedule: nn.Schedule{Name: c.String("schedule"), Base: float32(c.Float64("lr")), Epochs: c.Int("epochs"), Every: 3, Gamma: 0.3},
		Optimizer: nn.OptimizerConfig{
			Name:        strings.ToLower(c.String("optimizer")),
			Momentum:    float32(c.Float64("momentum")),
			Nesterov:    c.Bool("nesterov"),
			WeightDecay: float32(c.Float64("weight-decay")),
		},
		Seed:    c.Uint64("seed"),
		Shuffle: !c.Bool("no-shuffle"),
		Norm:    norm,
	}
	if cfg.Optimizer.Name == "adam" && !c.IsSet("momentum") {
		cfg.Optimizer.Momentum = 0 // the sgd default does not apply
	}
	if !(c.Float64("lr") > 0) {
		return nil, usageErrorf("--lr %g: the learning rate must be positive", c.Float64("lr"))
	}
	if cfg.Epochs < 1 {
		return nil, usageErrorf("--epochs %d: must be at least 1", cfg.Epochs)
	}
	if cfg.Batch < 1 {
		return nil, usageErrorf("--batch %d: must be at least 1", cfg.Batch)
	}
	if err := cfg.Schedule.Validate(); err != nil {
		return nil, usageError{err}
	}
	if err := cfg.Optimizer.WithDefaults().Validate(); err != nil {
		return nil, usageError{err}
	}
	return &trainOptions{
		spec: spec, cfg: cfg, backend: c.String("backend"),
		out: c.String("out"), json: c.Bool("json"), quiet: c.Bool("quiet"),
	}, nil
}

func trainAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	dir := c.String("data-dir")
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		return err
	}
	opt, err := parseTrainOptions(c, train.Rows, train.Cols)
	if err != nil {
		return err
	}
	if opt.cfg.Batch > train.Len() {
		return usageErrorf("--batch %d is larger than the training set (%d samples in %s)", opt.cfg.Batch, train.Len(), dir)
	}
	if err := checkWritable(opt.out); err != nil {
		return err
	}
	// Progress goes to stderr when stdout carries the JSON result.
	var log io.Writer = c.App.Writer
	if opt.json {
		log = c.App.ErrWriter
	}
	b, why, err := openBackend(c)
	if err != nil {
		return err
	}
	defer b.Close()
	fmt.Fprintf(c.App.ErrWriter, "backend %s\n", why)

	t, err := nn.NewTrainer(b, opt.spec, opt.cfg, train, test)
	if err != nil {
		return err
	}
	defer t.Close()
	if !opt.quiet {
		fmt.Fprintf(log, "training %s (%d parameters) on %d images of %s for %d epochs, batch %d, %s\n",
			opt.spec, opt.spec.NumParams(), train.Len(), dir, opt.cfg.Epochs, opt.cfg.Batch, describeOptimizer(opt.cfg))
	}
	t.Observer = newProgress(log, opt.cfg.Epochs, t.StepsPerEpoch(), opt.cfg.Batch, train.Len(), opt.quiet)
	if err := t.Run(c.Context); err != nil {
		return err
	}
	params, err := t.Model.ParamsHost()
	if err != nil {
		return err
	}
	last := t.History[len(t.History)-1]
	info := nn.ModelInfo{
		Spec: opt.spec, Norm: opt.cfg.Norm, Dataset: dir, DataID: nn.DataID(train),
		Epochs: opt.cfg.Epochs, TestAccuracy: last.Test.Accuracy, TestLoss: last.Test.Loss,
		Seed: opt.cfg.Seed, Optimizer: describeOptimizer(opt.cfg), Batch: opt.cfg.Batch, Backend: b.Name(),
	}
	if err := nn.SaveModel(opt.out, params, info); err != nil {
		return err
	}
	if opt.json {
		return writeTrainJSON(c.App.Writer, b, opt, t)
	}
	fmt.Fprintf(c.App.Writer, "test accuracy %.2f%% after %d epochs; model saved to %s\n", 100*last.Test.Accuracy, opt.cfg.Epochs, opt.out)
	return nil
}

func describeOptimizer(cfg nn.TrainConfig) string {
	o := cfg.Optimizer
	s := fmt.Sprintf("%s lr=%g", o.Name, cfg.Schedule.Base)
	if cfg.Schedule.Name != "constant" {
		s += " schedule=" + cfg.Schedule.Name
	}
	if o.Name == "sgd" && o.Momentum != 0 {
		s += fmt.Sprintf(" momentum=%g", o.Momentum)
		if o.Nesterov {
			s += " nesterov"
		}
	}
	if o.WeightDecay != 0 {
		s += fmt.Sprintf(" weight_decay=%g", o.WeightDecay)
	}
	return s
}

// trainResult is the JSON object `mnist train --json` prints.
type trainResult struct {
	Backend          string    `json:"backend"`
	Device           string    `json:"device"`
	Model            string    `json:"model"`
	Params           int       `json:"params"`
	Epochs           int       `json:"epochs"`
	Batch            int       `json:"batch"`
	LR               float64   `json:"lr"`
	Schedule         string    `json:"schedule"`
	Optimizer        string    `json:"optimizer"`
	Momentum         float64   `json:"momentum"`
	Seed             uint64    `json:"seed"`
	TrainLoss        []float64 `json:"train_loss"`
	TestLoss         []float64 `json:"test_loss"`
	TestAccuracy     []float64 `json:"test_accuracy"`
	EpochSeconds     []float64 `json:"epoch_seconds"`
	SamplesPerSecond float64   `json:"samples_per_second"`
	Checkpoint       string    `json:"checkpoint"`
}

func writeTrainJSON(w io.Writer, b nn.Backend, opt *trainOptions, t *nn.Trainer) error {
	r := trainResult{
		Backend: b.Name(), Device: b.Device(), Model: opt.spec.String(), Params: opt.spec.NumParams(),
		Epochs: opt.cfg.Epochs, Batch: opt.cfg.Batch, LR: float64(opt.cfg.Schedule.Base), Schedule: opt.cfg.Schedule.Name,
		Optimizer: opt.cfg.Optimizer.Name, Momentum: float64(opt.cfg.Optimizer.Momentum), Seed: opt.cfg.Seed,
		Checkpoint: opt.out,
	}
	var seconds float64
	for _, h := range t.History {
		r.TrainLoss = append(r.TrainLoss, h.TrainLoss)
		r.TestLoss = append(r.TestLoss, h.Test.Loss)
		r.TestAccuracy = append(r.TestAccuracy, h.Test.Accuracy)
		r.EpochSeconds = append(r.EpochSeconds, h.Seconds)
		seconds += h.Seconds
	}
	r.SamplesPerSecond = float64(len(t.History)*t.Train.Len()) / seconds
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
