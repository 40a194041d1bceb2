package main

// Tests of issue 17's stumbles: what a new user meets in the first hour.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mnist-go/mnist/cmd/mnist/internal/plots"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
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

// TestProgressDisplay: on a terminal, a fast epoch prints only its result;
// a slow one shows a line with percentage, samples/s and ETA first, which
// the result replaces; figures read well at both speeds.
func TestProgressDisplay(t *testing.T) {
	var b strings.Builder
	p := &progress{w: &b, epochs: 10, steps: 100, batch: 100, samples: 10000, tty: true, width: 100}
	p.Losses(0, 0, 0, []float32{0.5})
	p.Losses(0, 1, 1, []float32{0.4})
	if err := p.EpochEnd(nn.EpochResult{Test: &nn.Evaluation{}, Epoch: 0, LR: 0.05, TrainLoss: 0.3, Seconds: 0.07, SamplesPerSec: 839818}); err != nil {
		t.Fatal(err)
	}
	want := "epoch 1/10  lr 0.05  train loss 0.3000  test loss 0.0000  test accuracy 0.00%  70 ms (840k samples/s)\n"
	if b.String() != want {
		t.Errorf("a fast epoch printed %q, want %q", b.String(), want)
	}

	b.Reset()
	p.epochStart = time.Now().Add(-2 * time.Second) // an epoch running for 2 s
	p.Losses(1, 49, 149, []float32{0.25})
	line := b.String()
	for _, w := range []string{"\repoch 2/10 [", "50%", "loss 0.2500", "k samples/s", "ETA 2s"} {
		if !strings.Contains(line, w) {
			t.Errorf("the progress line %q lacks %q", line, w)
		}
	}
	if err := p.EpochEnd(nn.EpochResult{Test: &nn.Evaluation{}, Epoch: 1, LR: 0.0012243524, Seconds: 15.3, SamplesPerSec: 3921}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimPrefix(b.String(), line); !strings.HasPrefix(got, "\r\x1b[K") || !strings.Contains(got, "lr 0.001224 ") || !strings.Contains(got, "15.30 s (3.92k samples/s)") {
		t.Errorf("the result of a slow epoch: %q", got)
	}
	// Narrow terminals get a line that fits.
	for _, width := range []int{20, 40, 80, 200} {
		if l := progressLine(0, 10, 5000, 10000, 0.1, time.Second, width); len([]rune(l)) > width-1 {
			t.Errorf("width %d: %q is %d columns", width, l, len([]rune(l)))
		}
	}
	for n, want := range map[float64]string{12: "12", 3921: "3.92k", 39210: "39.2k", 839818: "840k", 1.25e6: "1.25M"} {
		if got := shortCount(n); got != want {
			t.Errorf("shortCount(%g) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{4 * time.Second: "4s", 125 * time.Second: "2m05s", 3720 * time.Second: "1h02m"} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestShowAsciiWidthAndPredict: the terminal preview fits the terminal
// ($COLUMNS when the output is not one), and the image `show --n 1 --out`
// writes is one predict reads as its label.
func TestShowAsciiWidthAndPredict(t *testing.T) {
	if got := digitsPerRow(80, 28); got != 2 {
		t.Errorf("digitsPerRow(80, 28) = %d, want 2", got)
	}
	if got := digitsPerRow(300, 28); got != 8 {
		t.Errorf("digitsPerRow(300, 28) = %d, want 8", got)
	}
	if got := digitsPerRow(10, 28); got != 1 {
		t.Errorf("digitsPerRow(10, 28) = %d, want 1", got)
	}
	data := synthetic(t, 512, 128, 28, 28, 1)
	t.Setenv("COLUMNS", "100")
	r := mustInproc(t, "show", "--data-dir", data, "--n", "8", "--ascii")
	for _, l := range strings.Split(r.stdout, "\n") {
		if n := len([]rune(l)); n > 100 {
			t.Fatalf("a line of %d columns in a 100-column terminal: %q", n, l)
		}
	}
}

// TestPredictReadsShowOutput: a digit written by `show --n 1 --out` is read
// by predict as its label (real MNIST digits: predict prepares images as
// MNIST was made, which synthetic patterns do not survive).
func TestPredictReadsShowOutput(t *testing.T) {
	data := mnisttest.RealDataDir(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	mustInproc(t, "train", "--data-dir", data, "--backend", "cpu", "--epochs", "1", "--quiet", "--logdir", "none", "--out", model)
	agree := 0
	const n = 8
	for seed := 1; seed <= n; seed++ {
		png := filepath.Join(dir, "digit.png")
		r := mustInproc(t, "show", "--data-dir", data, "--split", "test", "--n", "1", "--shuffle", "--seed", fmt.Sprint(seed), "--out", png, "--ascii")
		if !strings.Contains(r.stdout, "wrote 1 test digit to ") {
			t.Errorf("show: %q", r.stdout)
		}
		label := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 3)[1])
		p := mustInproc(t, "predict", png, "--model", model, "--json")
		var got struct {
			Digit int `json:"digit"`
		}
		if err := json.Unmarshal([]byte(strings.SplitN(p.stdout, "\n", 2)[0]), &got); err != nil {
			t.Fatalf("predict --json: %v: %q", err, p.stdout)
		}
		if fmt.Sprint(got.Digit) == label {
			agree++
		}
	}
	if agree < n-1 {
		t.Errorf("predict read %d of %d digits written by show as their label", agree, n)
	}
}

// TestPlotParentDirectory: `mnist plot runs` draws every run in runs/, and
// leaves out (with a warning) one that has not finished an epoch.
func TestPlotParentDirectory(t *testing.T) {
	data := synthetic(t, 128, 32, 8, 8, 1)
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	for _, name := range []string{"a", "b"} {
		mustInproc(t, "train", "--data-dir", data, "--backend", "cpu", "--epochs", "2", "--quiet",
			"--logdir", filepath.Join(runs, name), "--out", filepath.Join(dir, name+".safetensors"))
	}
	if err := os.MkdirAll(filepath.Join(runs, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "all.png")
	r := mustInproc(t, "plot", runs, "--out", out)
	if !strings.Contains(r.stdout, "wrote "+out+" (2 runs)") {
		t.Errorf("plot of the parent directory: %v", r)
	}
	one := mustInproc(t, "plot", filepath.Join(runs, "a"), "--out", out)
	if !strings.Contains(one.stdout, "(1 run)") {
		t.Errorf("plot of one run: %v", one)
	}
}
