package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/internal/atomicfile"
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// defaultRecipe is what `mnist train` runs when no flag says otherwise,
// the recipe table's "mlp" (nn.Recipes): the tutorial's architecture
// trained to ≥ 97.5% test accuracy within 10 epochs (README, "Choosing the
// defaults", says why). The flags' defaults are its values.
var defaultRecipe = func() nn.Recipe {
	r, _ := nn.FindRecipe("mlp")
	return r
}()

// defaultOptimizer is the default recipe's optimizer.
var defaultOptimizer = defaultRecipe.Config.Optimizer.Name

// defaultLR is each optimizer's learning rate when --lr is not given: SGD
// the default recipe's (with momentum 0.9, 0.05: see the README), Adam its
// customary 0.001 (Adam at 0.05 ends the mlp's 10 epochs near 87%). The
// cnn's recipe sets its own (nn.CNNRecipe).
var defaultLR = map[string]float64{defaultOptimizer: decimal(defaultRecipe.Config.Schedule.Base), "adam": 0.001}

// decimal returns the float64 of x's shortest decimal form (0.9, not
// float64(float32(0.9)) = 0.8999999761581421): what a flag holds when
// given the recipe's value as text.
func decimal(x float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	return v
}

func trainCommand() *cli.Command {
	return &cli.Command{
		Name:  "train",
		Usage: "train a model and save it (safetensors, loadable by PyTorch)",
		Description: "Trains on the training split, reports test loss and accuracy after every epoch and saves\n" +
			"the weights with the tutorial's PyTorch names. --preset tutorial reproduces the PyTorch tutorial\n" +
			"exactly (100 epochs, plain SGD, lr 0.005, batch 64, no shuffle, no normalisation); --preset\n" +
			"mlp-best and --preset cnn-best are the most accurate recipes measured for the mlp (within 30 s on\n" +
			"a 2-vCPU CPU) and the cnn (within 10 epochs). Flags given explicitly override the preset.\n\n" +
			"A checkpoint (<out>.ckpt.safetensors: weights, optimizer state, position) is written every\n" +
			"--checkpoint-every epochs and when training is interrupted (Ctrl-C, SIGTERM or SIGHUP: the step in\n" +
			"progress finishes first; a second signal exits at once). --resume continues exactly.",
		Flags: append(backendFlags(), dataDirFlag(),
			&cli.StringFlag{Name: "model", Value: "mlp", Usage: "architecture: mlp, or cnn (its own recipe: Adam, cosine schedule; see the README)"},
			&cli.StringFlag{Name: "hidden", Value: recipeFlags(defaultRecipe)["hidden"], Usage: "hidden layer widths of the mlp"},
			&cli.IntFlag{Name: "epochs", Value: defaultRecipe.Config.Epochs, Usage: "passes over the training set"},
			&cli.IntFlag{Name: "batch", Value: defaultRecipe.Config.Batch, Usage: "samples per step"},
			&cli.Float64Flag{Name: "lr", Usage: "learning rate of the first epoch, see --schedule",
				DefaultText: "0.05 for sgd, 0.001 for adam; --model cnn: " + cnnRecipe()["lr"]},
			&cli.StringFlag{Name: "schedule", Value: defaultRecipe.Config.Schedule.Name, Usage: "learning-rate schedule: constant, cosine or step"},
			&cli.IntFlag{Name: "warmup", Usage: "epochs whose learning rate rises linearly to --lr before the --schedule runs over the rest"},
			&cli.StringFlag{Name: "optimizer", Value: defaultOptimizer, Usage: "sgd or adam"},
			&cli.Float64Flag{Name: "momentum", Value: decimal(defaultRecipe.Config.Optimizer.Momentum), Usage: "sgd momentum (0 for plain SGD)"},
			&cli.BoolFlag{Name: "nesterov", Usage: "sgd with Nesterov momentum"},
			&cli.Float64Flag{Name: "weight-decay", Usage: "L2 penalty added to the gradient"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the initialisation and the shuffle"},
			&cli.BoolFlag{Name: "no-shuffle", Usage: "visit the training set in file order every epoch"},
			&cli.BoolFlag{Name: "no-normalize", Usage: "feed pixels as p/255 instead of normalising with MNIST's mean and std"},
			&cli.BoolFlag{Name: "augment", Usage: "resample every training image with a random shift (up to 2 px) and rotation (up to 10°), seeded"},
			&cli.StringFlag{Name: "preset", Usage: presetUsage()},
			&cli.StringFlag{Name: "out", Value: "model.safetensors", Usage: "where to save the trained model (its checkpoint goes beside it)"},
			&cli.BoolFlag{Name: "force", Usage: "replace an existing model file and checkpoint at --out"},
			&cli.IntFlag{Name: "checkpoint-every", Value: 1, Usage: "epochs between checkpoints (0: only when interrupted)"},
			&cli.StringFlag{Name: "resume", Usage: "continue the run saved in this checkpoint"},
			labelBaseFlag(),
			classesFlag(),
			&cli.StringFlag{Name: "logdir", Usage: "TensorBoard run directory (default runs/<time>; none to disable)"},
			&cli.BoolFlag{Name: "json", Usage: "progress to stderr, one JSON object with the results to stdout"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		),
		Action: trainAction,
	}
}

func trainAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	b, why, err := openBackend(c)
	if err != nil {
		return err
	}
	defer b.Close()
	if !c.Bool("quiet") {
		fmt.Fprintf(c.App.ErrWriter, "backend %s\n", why)
	}
	dir := c.String("data-dir")
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		return err
	}
	var classes classSetup
	if c.String("resume") == "" {
		if classes, err = setupClasses(c, c.App.ErrWriter, train, test); err != nil {
			return err
		}
	}
	opt, err := parseTrainOptions(c, train.Rows, train.Cols, classes)
	if err != nil {
		return err
	}
	if opt.resume != nil { // the checkpoint says how its labels were numbered
		for _, d := range []*mnist.Dataset{train, test} {
			if err := d.ShiftLabels(opt.labelBase); err != nil {
				return fmt.Errorf("resume from %s: %w: resume with the data it was trained on (--data-dir)", c.String("resume"), err)
			}
		}
	}
	if opt.cfg.Batch > train.Len() && opt.resume != nil {
		return fmt.Errorf("resume from %s: the checkpoint's batch size %d is larger than the training set (%d samples in %s): resume with the data it was trained on (--data-dir)",
			c.String("resume"), opt.cfg.Batch, train.Len(), dir)
	}
	if opt.cfg.Batch > train.Len() {
		return usageErrorf("--batch %d is larger than the training set (%d samples in %s)", opt.cfg.Batch, train.Len(), dir)
	}
	if b.Name() != "cuda" { // a GPU's memory is its own: the driver refuses what does not fit
		if err := checkTrainingMemory(opt.spec, opt.cfg.Batch, memAvailable()); err != nil {
			return err
		}
	}
	if err := checkNoOverwrite(opt, c.String("resume"), dir); err != nil {
		return err
	}
	for _, path := range []string{opt.out, opt.checkpoint} {
		if err := checkWritable(path); err != nil {
			return err
		}
		// Temporary files of a run that was killed (SIGKILL) before it
		// could remove them: this run owns these paths now.
		atomicfile.RemoveStale(path)
	}
	// Progress goes to stderr when stdout carries the JSON result.
	var log io.Writer = c.App.Writer
	if opt.json {
		log = c.App.ErrWriter
	}

	t, err := nn.NewTrainer(b, opt.spec, opt.cfg, train, test)
	if err != nil {
		if opt.resume != nil { // the checkpoint's model does not fit this data
			return fmt.Errorf("resume from %s: %w", c.String("resume"), err)
		}
		return err
	}
	defer t.Close()
	if opt.resume != nil {
		if err := t.Restore(opt.resume); err != nil {
			return fmt.Errorf("resume from %s: %w", c.String("resume"), err)
		}
		if t.Pos.Epoch >= opt.cfg.Epochs && len(t.History) > 0 {
			return finishedRun(c, t, opt, b, dir, train)
		}
		if !opt.quiet {
			fmt.Fprintf(log, "resuming %s at epoch %d of %d, step %d\n", c.String("resume"), t.Pos.Epoch+1, opt.cfg.Epochs, t.Pos.Step+1)
		}
	}
	if !opt.quiet {
		fmt.Fprintf(log, "training %s (%d parameters) on %d images of %s for %s, batch %d, %s\n",
			opt.spec, opt.spec.NumParams(), train.Len(), dir, plural(opt.cfg.Epochs, "epoch"), opt.cfg.Batch, describeOptimizer(opt.cfg))
	}

	obs := observers{newProgress(log, opt.cfg.Epochs, t.StepsPerEpoch(), opt.cfg.Batch, train.Len(), opt.quiet)}
	var runlog *runLog
	if opt.logdir != "none" {
		if runlog, err = newRunLog(opt.logdir, opt.hyperparameters(b), opt.modelInfo(b, dir, train, nil), train, test, firstOrder(opt.cfg, train.Len())); err != nil {
			return err
		}
		obs = append(obs, runlog)
		if !opt.quiet {
			fmt.Fprintf(log, "logging to %s (tensorboard --logdir %s)\n", opt.logdir, filepath.Dir(opt.logdir))
		}
	}
	start := t.Pos // where this process began: a checkpoint is only worth writing past it
	ckpt := &checkpointer{t: t, opt: opt, b: b, dir: dir, train: train, saved: opt.resume != nil && filepath.Clean(c.String("resume")) == filepath.Clean(opt.checkpoint)}
	obs = append(obs, ckpt)
	t.Observer = obs
	if runlog != nil {
		t.Observer = withParams{obs, runlog}
	}
	err = t.Run(c.Context)
	// A run log that could not be written (disk full, say) is reported, but
	// only after the model is saved: logging never costs the run its result.
	var logErr error
	if runlog != nil {
		if lerr := runlog.Close(err); lerr != nil {
			logErr = fmt.Errorf("run log %s: %w", opt.logdir, lerr)
		}
	}
	if errors.Is(err, context.Canceled) {
		if t.Pos == start {
			// Interrupted during start-up: nothing was learnt, and a
			// checkpoint at the starting point would replace a good one
			// (an earlier run's, or the one being resumed) with nothing new.
			if opt.resume != nil {
				fmt.Fprintf(c.App.ErrWriter, "\ninterrupted before the first step: %s is unchanged\n", c.String("resume"))
			} else {
				fmt.Fprintf(c.App.ErrWriter, "\ninterrupted before the first step: nothing to save\n")
			}
			return exitError{code: signalStatus(c.Context)}
		}
		return interrupted(c, t, opt, b, dir, train, log)
	}
	if err != nil {
		if errors.Is(err, nn.ErrDiverged) {
			if ckpt.saved {
				err = fmt.Errorf("%w\nthe last good checkpoint is %s", err, opt.checkpoint)
			} else if _, serr := os.Stat(opt.checkpoint); serr == nil {
				err = fmt.Errorf("%w\n%s, from an earlier run, was not touched", err, opt.checkpoint)
			}
		}
		return err
	}

	if err := saveAndReport(c, t, opt, b, dir, train, true); err != nil {
		return err
	}
	if logErr != nil {
		return fmt.Errorf("%w (the model was saved to %s)", logErr, opt.out)
	}
	return nil
}

// checkpointer saves a checkpoint every opt.every epochs (and after the last).
type checkpointer struct {
	t     *nn.Trainer
	opt   *trainOptions
	b     nn.Backend
	dir   string
	train *mnist.Dataset
	saved bool // the file at opt.checkpoint is this run's (written, or resumed from)
}

func (k *checkpointer) Losses(int, int, int, []float32) {}

func (k *checkpointer) EpochEnd(r nn.EpochResult) error {
	done := r.Epoch + 1
	if k.opt.every == 0 || (done%k.opt.every != 0 && done != k.opt.cfg.Epochs) {
		return nil
	}
	if err := saveCheckpoint(k.t, k.opt, k.b, k.dir, k.train, &r); err != nil {
		return err
	}
	k.saved = true
	return nil
}

func saveCheckpoint(t *nn.Trainer, opt *trainOptions, b nn.Backend, dir string, train *mnist.Dataset, last *nn.EpochResult) error {
	ck, err := t.Capture(opt.modelInfo(b, dir, train, last))
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if opt.logdir != "none" {
		ck.State.LogDir = opt.logdir
	}
	return nn.SaveCheckpoint(opt.checkpoint, ck)
}

// interrupted saves a checkpoint at the step training stopped on, says how
// to resume, and ends the program with the signal's exit status.
func interrupted(c *cli.Context, t *nn.Trainer, opt *trainOptions, b nn.Backend, dir string, train *mnist.Dataset, log io.Writer) error {
	var last *nn.EpochResult
	if n := len(t.History); n > 0 {
		last = &t.History[n-1]
	}
	if err := saveCheckpoint(t, opt, b, dir, train, last); err != nil {
		return exitError{code: signalStatus(c.Context), err: fmt.Errorf("interrupted, and the checkpoint could not be saved: %w", err)}
	}
	fmt.Fprintf(c.App.ErrWriter, "\ninterrupted at epoch %d, step %d of %d: checkpoint saved to %s\nresume with: mnist train --resume %s%s\n",
		t.Pos.Epoch+1, t.Pos.Step, t.StepsPerEpoch(), opt.checkpoint, quoteArgs([]string{opt.checkpoint}), dataDirArg(dir))
	return exitError{code: signalStatus(c.Context)}
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
	Warmup           int       `json:"warmup,omitempty"`
	Optimizer        string    `json:"optimizer"`
	Momentum         float64   `json:"momentum"`
	Seed             uint64    `json:"seed"`
	TrainLoss        []float64 `json:"train_loss"`
	TestLoss         []float64 `json:"test_loss"`
	TestAccuracy     []float64 `json:"test_accuracy"`
	EpochSeconds     []float64 `json:"epoch_seconds"`
	SamplesPerSecond float64   `json:"samples_per_second"`
	ModelFile        string    `json:"model_file"` // where the model was saved (--out)
	Checkpoint       string    `json:"checkpoint"` // the run's checkpoint, for --resume; "" when none was written
}

func writeTrainJSON(w io.Writer, b nn.Backend, opt *trainOptions, t *nn.Trainer) error {
	r := trainResult{
		Backend: b.Name(), Device: b.Device(), Model: opt.spec.String(), Params: opt.spec.NumParams(),
		Epochs: opt.cfg.Epochs, Batch: opt.cfg.Batch, LR: float64(opt.cfg.Schedule.Base), Schedule: opt.cfg.Schedule.Name,
		Warmup: opt.cfg.Schedule.Warmup, Optimizer: opt.cfg.Optimizer.Name, Momentum: float64(opt.cfg.Optimizer.Momentum), Seed: opt.cfg.Seed,
		ModelFile: opt.out,
	}
	if opt.every > 0 { // the last epoch always writes one
		r.Checkpoint = opt.checkpoint
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

// checkNoOverwrite refuses to start a new run that would replace the model
// or the checkpoint of an earlier one, unless --force says to: hours of
// training are not lost to a repeated command. A resumed run owns its files.
func checkNoOverwrite(opt *trainOptions, resume, dir string) error {
	if opt.force || resume != "" {
		return nil
	}
	if st, err := os.Stat(opt.out); err == nil && !st.IsDir() { // a directory: checkWritable says what to do
		what := ""
		if _, info, err := nn.LoadModel(opt.out); err == nil && info.Epochs > 0 {
			what = fmt.Sprintf(" (%s, test accuracy %.2f%%)", plural(info.Epochs, "epoch"), 100*info.TestAccuracy)
		}
		return usageErrorf("%s exists%s: pass --force to replace it, or --out to save the new model elsewhere", opt.out, what)
	}
	if _, err := os.Stat(opt.checkpoint); err == nil {
		return usageErrorf("%s, the checkpoint of an unfinished run, exists: continue it with `mnist train --resume %s%s`, or pass --force to start over (or --out to train elsewhere)",
			opt.checkpoint, quoteArgs([]string{opt.checkpoint}), dataDirArg(dir))
	}
	return nil
}

// dataDirArg is " --data-dir DIR" for a hint to copy, or "" for the default.
func dataDirArg(dir string) string {
	if filepath.Clean(dir) == "data" && os.Getenv("MNIST_DATA") == "" {
		return ""
	}
	return " --data-dir " + quoteArgs([]string{dir})
}

// plural is "1 epoch", "2 epochs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// finishedRun answers --resume of a run that has done all its epochs: there
// is nothing to train. It says so and how to extend the run, saves the
// model when the run was stopped between its last checkpoint and writing
// the model file (a SIGKILL), and prints the run's result like a run that
// just ended (--json included). Exit status 0.
func finishedRun(c *cli.Context, t *nn.Trainer, opt *trainOptions, b nn.Backend, dir string, train *mnist.Dataset) error {
	last := t.History[len(t.History)-1]
	resume := quoteArgs([]string{c.String("resume")})
	fmt.Fprintf(c.App.ErrWriter, "%s is a finished run (%s, test accuracy %.2f%%): nothing to train; to train it further, give it more epochs: mnist train --resume %s --epochs %d%s\n",
		c.String("resume"), plural(opt.cfg.Epochs, "epoch"), 100*last.Test.Accuracy, resume, opt.cfg.Epochs+5, dataDirArg(dir))
	_, err := os.Stat(opt.out)
	return saveAndReport(c, t, opt, b, dir, train, err != nil)
}

// saveAndReport writes the finished run's model to --out (when save is
// set) and prints the run's result: the JSON object with --json, else the
// closing line.
func saveAndReport(c *cli.Context, t *nn.Trainer, opt *trainOptions, b nn.Backend, dir string, train *mnist.Dataset, save bool) error {
	last := t.History[len(t.History)-1]
	if save {
		params, err := t.Model.ParamsHost()
		if err != nil {
			return err
		}
		if err := nn.SaveModel(opt.out, params, opt.modelInfo(b, dir, train, &last)); err != nil {
			return err
		}
	}
	if opt.json {
		return writeTrainJSON(c.App.Writer, b, opt, t)
	}
	fmt.Fprintf(c.App.Writer, "test accuracy %.2f%% after %s; model saved to %s\n", 100*last.Test.Accuracy, plural(opt.cfg.Epochs, "epoch"), opt.out)
	return nil
}
