package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// trainOptions is the parsed, validated command line of `mnist train`.
type trainOptions struct {
	spec       nn.Spec
	cfg        nn.TrainConfig
	out        string // the model file
	checkpoint string // the checkpoint file, <out without .safetensors>.ckpt.safetensors
	every      int    // epochs between checkpoints
	resume     *nn.Checkpoint
	logdir     string
	json       bool
	quiet      bool
	force      bool // replace an existing model and checkpoint
	classNames []string
	labelBase  int // subtracted from the data's labels
}

// hyperFlags are the flags that define a run; a resumed run takes them from
// its checkpoint, and refuses them on the command line (but --epochs, which
// may extend the run).
var hyperFlags = []string{"model", "hidden", "batch", "lr", "schedule", "warmup", "optimizer", "momentum",
	"nesterov", "weight-decay", "seed", "no-shuffle", "no-normalize", "preset", "augment", "label-base", "classes"}

// parseTrainOptions reads and checks the flags for data of rows×cols images
// and the classes of setupClasses. With --resume it loads the checkpoint
// and takes the run's definition from it, classes included.
func parseTrainOptions(c *cli.Context, rows, cols int, classes classSetup) (*trainOptions, error) {
	opt := &trainOptions{out: c.String("out"), logdir: c.String("logdir"), json: c.Bool("json"), quiet: c.Bool("quiet"), every: c.Int("checkpoint-every"), force: c.Bool("force")}
	if opt.every < 0 {
		return nil, usageErrorf("--checkpoint-every %d: must be 0 (never) or a number of epochs", opt.every)
	}
	if path := c.String("resume"); path != "" {
		if err := opt.fromCheckpoint(c, path); err != nil {
			return nil, err
		}
	} else if err := opt.fromFlags(c, rows, cols, classes.count); err != nil {
		return nil, err
	} else {
		opt.classNames, opt.labelBase = classes.names, classes.base
	}
	if opt.logdir == "" {
		opt.logdir = defaultLogDir(time.Now())
	}
	opt.checkpoint = strings.TrimSuffix(opt.out, ".safetensors") + ".ckpt.safetensors"
	return opt, nil
}

func (opt *trainOptions) fromFlags(c *cli.Context, rows, cols, classes int) error {
	if err := applyPreset(c); err != nil {
		return err
	}
	if err := applyModelDefaults(c); err != nil {
		return err
	}
	spec, err := specFromModelFlags(c, rows, cols, classes)
	if err != nil {
		return err
	}
	opt.spec = spec
	norm := nn.MNISTNormalization
	if c.Bool("no-normalize") {
		norm = nn.Normalization{}
	}
	epochs := c.Int("epochs")
	lr := c.Float64("lr")
	if !c.IsSet("lr") { // each optimizer has its own (the cnn's recipe and presets set theirs)
		var ok bool
		if lr, ok = defaultLR[strings.ToLower(c.String("optimizer"))]; !ok {
			lr = defaultLR[defaultOptimizer] // the optimizer's name is refused below
		}
	}
	opt.cfg = nn.TrainConfig{
		Epochs:   epochs,
		Batch:    c.Int("batch"),
		Schedule: nn.Schedule{Name: c.String("schedule"), Base: float32(lr), Epochs: epochs, Every: 3, Gamma: 0.3, Warmup: c.Int("warmup")},
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
	if c.Bool("augment") {
		opt.cfg.Augment = nn.DefaultAugmentation
	}
	if opt.cfg.Optimizer.Name == "adam" && !c.IsSet("momentum") {
		opt.cfg.Optimizer.Momentum = 0 // the sgd default does not apply
	}
	if !(lr > 0) {
		return usageErrorf("--lr %g: the learning rate must be positive", lr)
	}
	if epochs < 1 {
		return usageErrorf("--epochs %d: must be at least 1", epochs)
	}
	if opt.cfg.Batch < 1 {
		return usageErrorf("--batch %d: must be at least 1", opt.cfg.Batch)
	}
	if err := opt.cfg.Schedule.Validate(); err != nil {
		return usageError{err}
	}
	if err := opt.cfg.Optimizer.WithDefaults().Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

// fromCheckpoint takes the run's definition from the checkpoint at path.
func (opt *trainOptions) fromCheckpoint(c *cli.Context, path string) error {
	for _, name := range hyperFlags {
		if c.IsSet(name) {
			return usageErrorf("--%s cannot be combined with --resume: a resumed run keeps the settings it was started with (only --epochs may change, to extend it)", name)
		}
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--resume %s: no such file (mnist train writes its checkpoint next to the model, as <out>.ckpt.safetensors)", path)
	}
	ck, err := nn.LoadCheckpoint(path)
	if err != nil {
		return err
	}
	opt.resume, opt.spec, opt.cfg = ck, ck.Info.Spec, ck.State.Config
	opt.classNames, opt.labelBase = ck.Info.ClassNames, ck.Info.LabelBase
	if c.IsSet("epochs") {
		epochs := c.Int("epochs")
		if done := ck.State.Position.Epoch; epochs < max(done, 1) {
			return usageErrorf("--epochs %d: the checkpoint has already finished %d epochs", epochs, done)
		}
		opt.cfg.Epochs = epochs
	}
	if !c.IsSet("out") && strings.HasSuffix(path, ".ckpt.safetensors") {
		opt.out = strings.TrimSuffix(path, ".ckpt.safetensors") + ".safetensors"
	}
	// The resumed run goes on logging where it started, so that its curves
	// are one run's (unless --logdir says otherwise).
	if !c.IsSet("logdir") && ck.State.LogDir != "" {
		opt.logdir = ck.State.LogDir
	}
	return nil
}

// hyperparameters lists the run's settings for the run log.
func (opt *trainOptions) hyperparameters(b nn.Backend) map[string]string {
	c := opt.cfg
	return map[string]string{
		"model": opt.spec.String(), "params": fmt.Sprint(opt.spec.NumParams()), "epochs": fmt.Sprint(c.Epochs),
		"batch": fmt.Sprint(c.Batch), "lr": fmt.Sprint(c.Schedule.Base), "optimizer": describeOptimizer(c), "seed": fmt.Sprint(c.Seed),
		"shuffle": fmt.Sprint(c.Shuffle), "normalization": fmt.Sprintf("mean=%g std=%g", c.Norm.Mean, c.Norm.Std),
		"backend": b.Name(), "device": b.Device(), "augmentation": c.Augment.String(),
	}
}

// modelInfo is what the model file and checkpoints record about the run.
func (opt *trainOptions) modelInfo(b nn.Backend, dir string, train *mnist.Dataset, last *nn.EpochResult) nn.ModelInfo {
	info := nn.ModelInfo{
		Spec: opt.spec, Norm: opt.cfg.Norm, Dataset: filepath.Base(filepath.Clean(dir)), DataID: nn.DataID(train), Seed: opt.cfg.Seed,
		Optimizer: describeOptimizer(opt.cfg), Batch: opt.cfg.Batch, Backend: b.Name(),
		ClassNames: opt.classNames, LabelBase: opt.labelBase,
	}
	if last != nil {
		info.Epochs = last.Epoch + 1
		info.TestAccuracy, info.TestLoss = last.Test.Accuracy, last.Test.Loss
	}
	return info
}

func describeOptimizer(cfg nn.TrainConfig) string {
	o := cfg.Optimizer
	s := fmt.Sprintf("%s lr=%s", o.Name, formatLR(cfg.Schedule.Base))
	if cfg.Schedule.Name != "constant" {
		s += " schedule=" + cfg.Schedule.Name
	}
	if cfg.Schedule.Warmup > 0 {
		s += fmt.Sprintf(" warmup=%d", cfg.Schedule.Warmup)
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
	if cfg.Augment.Enabled() {
		s += " augment"
	}
	return s
}

// firstOrder returns the order in which the first epoch visits the training set.
func firstOrder(cfg nn.TrainConfig, n int) []int32 {
	order := make([]int32, n)
	if cfg.Shuffle {
		mnist.Permutation(order, cfg.Seed, 0)
	} else {
		for i := range order {
			order[i] = int32(i)
		}
	}
	return order
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// quoteArgs renders a command line for people to copy.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$\\") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// formatLR prints a learning rate in the shortest form that reads back as
// the same float32 (0.05, not 0.05000000074505806).
func formatLR(lr float32) string {
	return strconv.FormatFloat(float64(lr), 'g', -1, 32)
}
