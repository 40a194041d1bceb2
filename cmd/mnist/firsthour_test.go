package main

// Tests of issue 17's stumbles: what a new user meets in the first hour.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/cmd/mnist/internal/plots"
)

// TestTrainRefusesToOverwrite: a repeated `mnist train` does not replace the
// model (or an unfinished run's checkpoint) without --force, and says so.
func TestTrainRefusesToOverwrite(t *testing.T) {
	data := synthetic(t, 256, 64, 8, 8, 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	args := []string{"train", "--data-dir", data, "--backend", "cpu", "--epochs", "1", "--quiet", "--logdir", "none", "--out", out}
	mustInproc(t, args...)
	before := sha256File(t, out)
	r := inproc(t.Context(), args...)
	if r.code != 2 || !strings.Contains(r.stderr, out+" exists (1 epoch, test accuracy") || !strings.Contains(r.stderr, "pass --force to replace it") {
		t.Errorf("a second train into %s: exit %d, stderr %q; want 2 and a message naming --force", out, r.code, r.stderr)
	}
	if sha256File(t, out) != before {
		t.Error("the refused run changed the model file")
	}
	// The checkpoint goes next to the model.
	if _, err := os.Stat(filepath.Join(dir, "m.ckpt.safetensors")); err != nil {
		t.Errorf("no checkpoint beside the model: %v", err)
	}
	mustInproc(t, append(args, "--force", "--seed", "2")...)
	if sha256File(t, out) == before {
		t.Error("--force did not replace the model")
	}

	// A checkpoint without a model: an unfinished run, which a new run
	// would destroy. The hint resumes it.
	if err := os.Remove(out); err != nil {
		t.Fatal(err)
	}
	r = inproc(t.Context(), args...)
	if want := "continue it with `mnist train --resume " + filepath.Join(dir, "m.ckpt.safetensors") + " --data-dir " + data + "`"; r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Errorf("train over an unfinished run's checkpoint: exit %d, stderr %q; want 2 and %q", r.code, r.stderr, want)
	}
}

// TestResumeFinishedAndLogdir: resuming a finished run trains nothing, says
// so and exits 0; --epochs extends it, logging into the original run
// directory, whose plot then has every epoch.
func TestResumeFinishedAndLogdir(t *testing.T) {
	data := synthetic(t, 256, 64, 8, 8, 1)
	dir := t.TempDir()
	out, logdir := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "runs", "first")
	mustInproc(t, "train", "--data-dir", data, "--backend", "cpu", "--epochs", "2", "--quiet", "--logdir", logdir, "--out", out)
	ckpt := filepath.Join(dir, "m.ckpt.safetensors")
	before := sha256File(t, out)

	r := mustInproc(t, "train", "--data-dir", data, "--backend", "cpu", "--resume", ckpt)
	if !strings.Contains(r.stderr, "is a finished run (2 epochs") || !strings.Contains(r.stderr, "--resume "+ckpt+" --epochs 7") || strings.Contains(r.stdout+r.stderr, "resuming") {
		t.Errorf("resuming a finished run: %v", r)
	}
	if sha256File(t, out) != before {
		t.Error("resuming a finished run changed the model")
	}

	r = mustInproc(t, "train", "--data-dir", data, "--backend", "cpu", "--resume", ckpt, "--epochs", "3")
	if !strings.Contains(r.stdout, "resuming "+ckpt+" at epoch 3 of 3") || !strings.Contains(r.stdout, "logging to "+logdir) {
		t.Errorf("extending a run: %v", r)
	}
	run, err := plots.RunFromDir(logdir)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.TestAccuracy) != 3 {
		t.Errorf("the run directory holds %d epochs of test accuracy, want 3 (the resumed run logs into it)", len(run.TestAccuracy))
	}
}

// TestOptimizerDefaultLR: each optimizer has its own default learning rate,
// --lr overrides it, and the cnn keeps its recipe's; `train --help` says so.
func TestOptimizerDefaultLR(t *testing.T) {
	data := synthetic(t, 128, 32, 8, 8, 1)
	for _, tc := range []struct {
		args []string
		lr   float64
	}{
		{nil, 0.05},
		{[]string{"--optimizer", "adam"}, 0.001},
		{[]string{"--optimizer", "adam", "--lr", "0.01"}, 0.01},
		{[]string{"--optimizer", "sgd"}, 0.05},
		{[]string{"--preset", "tutorial", "--epochs", "1"}, 0.005},
	} {
		args := append([]string{"train", "--data-dir", data, "--backend", "cpu", "--epochs", "1", "--logdir", "none", "--json",
			"--out", filepath.Join(t.TempDir(), "m.safetensors")}, tc.args...)
		r := mustInproc(t, args...)
		var j struct {
			LR float64 `json:"lr"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
			t.Fatal(err)
		}
		if float32(j.LR) != float32(tc.lr) {
			t.Errorf("train %s: lr %g, want %g", strings.Join(tc.args, " "), j.LR, tc.lr)
		}
		if want := "lr=" + formatLR(float32(tc.lr)); !strings.Contains(r.stderr, want) {
			t.Errorf("train %s: stderr does not say %q:\n%s", strings.Join(tc.args, " "), want, r.stderr)
		}
	}
	help := mustInproc(t, "train", "--help").stdout
	if !strings.Contains(help, "0.05 for sgd, 0.001 for adam") {
		t.Errorf("train --help does not show the per-optimizer learning rates:\n%s", help)
	}
}

func TestFormatLRAndPlural(t *testing.T) {
	for lr, want := range map[float32]string{0.05: "0.05", 0.001: "0.001", 1e-4: "0.0001", 0.0012243: "0.0012243", 1e6: "1e+06"} {
		if got := formatLR(lr); got != want {
			t.Errorf("formatLR(%v) = %q, want %q", lr, got, want)
		}
	}
	if plural(1, "epoch") != "1 epoch" || plural(2, "run") != "2 runs" || plural(0, "run") != "0 runs" {
		t.Error("plural")
	}
}
