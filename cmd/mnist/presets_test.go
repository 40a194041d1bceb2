package main

import (
	"errors"
	"io"
	"maps"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/nn"
)

// resolveTrain parses `mnist train args…` for 28×28 data as the train
// command would, without loading data or training.
func resolveTrain(t *testing.T, args ...string) (*trainOptions, error) {
	t.Helper()
	cmd := trainCommand()
	var opt *trainOptions
	cmd.Action = func(c *cli.Context) error {
		var err error
		opt, err = parseTrainOptions(c, 28, 28, classSetup{count: 10})
		return err
	}
	app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{cmd}, ExitErrHandler: func(*cli.Context, error) {}}
	err := app.Run(append([]string{"mnist", "train", "--logdir", "none"}, args...))
	return opt, err
}

// TestPresetsResolve checks that every preset resolves to the recipe
// bench/RESULTS.md measured (the figures are written out here so that a
// change to the table is a deliberate one), that explicit flags override
// it, and that contradictions and unknown names are refused.
func TestPresetsResolve(t *testing.T) {
	type want struct {
		spec      string
		epochs    int
		batch     int
		lr        float32
		schedule  string
		warmup    int
		optimizer string
		momentum  float32
		nesterov  bool
		decay     float32
		augment   bool
		shuffle   bool
		norm      nn.Normalization
	}
	cases := map[string]want{
		"tutorial": {spec: "mlp-64-32", epochs: 100, batch: 64, lr: 0.005, schedule: "constant", optimizer: "sgd"},
		"mlp-best": {spec: "mlp-64-32", epochs: 40, batch: 64, lr: 0.05, schedule: "cosine", optimizer: "sgd", momentum: 0.9,
			decay: 0.0005, augment: true, shuffle: true, norm: nn.MNISTNormalization},
		"cnn-best": {spec: "cnn", epochs: 10, batch: 64, lr: 0.05, schedule: "cosine", warmup: 1, optimizer: "sgd", momentum: 0.9,
			nesterov: true, decay: 0.0005, augment: true, shuffle: true, norm: nn.MNISTNormalization},
	}
	if len(cases) != len(presets) {
		t.Errorf("%d presets, %d checked here", len(presets), len(cases))
	}
	for name, w := range cases {
		opt, err := resolveTrain(t, "--preset", name)
		if err != nil {
			t.Errorf("--preset %s: %v", name, err)
			continue
		}
		c := opt.cfg
		got := want{
			spec: opt.spec.String(), epochs: c.Epochs, batch: c.Batch, lr: c.Schedule.Base, schedule: c.Schedule.Name,
			warmup: c.Schedule.Warmup, optimizer: c.Optimizer.Name, momentum: c.Optimizer.Momentum, nesterov: c.Optimizer.Nesterov,
			decay: c.Optimizer.WeightDecay, augment: c.Augment == nn.DefaultAugmentation, shuffle: c.Shuffle, norm: c.Norm,
		}
		if got != w {
			t.Errorf("--preset %s resolves to\n%+v, want\n%+v", name, got, w)
		}
		if c.Schedule.Epochs != c.Epochs {
			t.Errorf("--preset %s: the schedule spans %d epochs of %d", name, c.Schedule.Epochs, c.Epochs)
		}
		if !c.Augment.Enabled() && w.augment {
			t.Errorf("--preset %s: no augmentation", name)
		}
	}

	// Explicit flags win over the preset, the rest of the preset stays.
	opt, err := resolveTrain(t, "--preset", "cnn-best", "--epochs", "3", "--seed", "7")
	if err != nil {
		t.Fatal(err)
	}
	if opt.cfg.Epochs != 3 || opt.cfg.Schedule.Epochs != 3 || opt.cfg.Seed != 7 || opt.spec.Model != "cnn" || opt.cfg.Optimizer.WeightDecay != 0.0005 {
		t.Errorf("--preset cnn-best --epochs 3 --seed 7: %+v %s", opt.cfg, opt.spec)
	}

	for _, bad := range []struct {
		args []string
		want []string
	}{
		{[]string{"--preset", "cnn-best", "--model", "mlp"}, []string{"--preset cnn-best", "cnn", "--model mlp"}},
		{[]string{"--preset", "mlp-best", "--model", "cnn"}, []string{"--preset mlp-best", "mlp", "--model cnn"}},
		{[]string{"--preset", "best"}, []string{`unknown preset "best"`, "tutorial, mlp-best and cnn-best"}},
		{[]string{"--preset", "cnn-best", "--warmup", "10"}, []string{"warmup", "10 epochs"}},
	} {
		_, err := resolveTrain(t, bad.args...)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("%v: got %v, want a usage error", bad.args, err)
			continue
		}
		for _, s := range bad.want {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%v: %q does not say %q", bad.args, err, s)
			}
		}
	}
}

// TestRecipeFlags checks that the recipe table (nn.Recipes) comes out as
// exactly the flag values the presets and the cnn's defaults set when they
// were written out here, flag for flag (a flag set to its default value
// still counts as set, for --resume's checks), and that the cnn's default
// resolves to nn.CNNRecipe.
func TestRecipeFlags(t *testing.T) {
	want := map[string]map[string]string{
		"tutorial": {
			"model": "mlp", "hidden": "64,32", "epochs": "100", "batch": "64", "lr": "0.005", "optimizer": "sgd",
			"momentum": "0", "schedule": "constant", "no-shuffle": "true", "no-normalize": "true",
		},
		"mlp-best": {
			"model": "mlp", "hidden": "64,32", "epochs": "40", "batch": "64", "lr": "0.05", "optimizer": "sgd",
			"momentum": "0.9", "schedule": "cosine", "weight-decay": "0.0005", "augment": "true",
		},
		"cnn-best": {
			"model": "cnn", "epochs": "10", "batch": "64", "lr": "0.05", "optimizer": "sgd", "momentum": "0.9",
			"nesterov": "true", "schedule": "cosine", "warmup": "1", "weight-decay": "0.0005", "augment": "true",
		},
	}
	if len(presets) != len(want) {
		t.Errorf("%d presets, %d checked here", len(presets), len(want))
	}
	for _, p := range presets {
		if w, ok := want[p.Name]; !ok || !maps.Equal(p.Flags, w) {
			t.Errorf("preset %s sets\n%v, want\n%v", p.Name, p.Flags, w)
		}
	}
	cnn := map[string]string{"epochs": "4", "batch": "64", "lr": "0.001", "optimizer": "adam", "schedule": "cosine"}
	if got := cnnRecipe(); !maps.Equal(got, cnn) {
		t.Errorf("--model cnn sets\n%v, want\n%v", got, cnn)
	}

	// No flags: the default recipe, its values written out.
	opt, err := resolveTrain(t)
	if err != nil {
		t.Fatal(err)
	}
	def := nn.TrainConfig{Epochs: 10, Batch: 64, Schedule: nn.Schedule{Name: "cosine", Base: 0.05, Epochs: 10, Every: 3, Gamma: 0.3},
		Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9}, Seed: 1, Shuffle: true, Norm: nn.MNISTNormalization}
	if opt.cfg != def || opt.spec.String() != "mlp-64-32" {
		t.Errorf("no flags resolve to %s %+v, want mlp-64-32 %+v", opt.spec, opt.cfg, def)
	}
	if lr := defaultLR["sgd"]; lr != 0.05 {
		t.Errorf("sgd's default lr is %v (float64), want 0.05", lr)
	}

	opt, err = resolveTrain(t, "--model", "cnn")
	if err != nil {
		t.Fatal(err)
	}
	// (The CLI's schedules also carry the step schedule's Every and Gamma.)
	sched := opt.cfg.Schedule
	sched.Every, sched.Gamma = 0, 0
	if r := nn.CNNRecipe(); opt.cfg.Epochs != r.Epochs || opt.cfg.Batch != r.Batch || sched != r.Schedule ||
		opt.cfg.Optimizer != r.Optimizer || opt.cfg.Shuffle != r.Shuffle || opt.cfg.Norm != r.Norm || opt.cfg.Augment != r.Augment {
		t.Errorf("--model cnn resolves to %+v, nn.CNNRecipe is %+v", opt.cfg, r)
	}
}
