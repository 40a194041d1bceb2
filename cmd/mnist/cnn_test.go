package main

import (
	"context"
	"encoding/json"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// TestCNNTrainEvalPredictSummary trains the cnn on 20×20 synthetic data
// with augmentation and the recipe's defaults, then uses the model with
// eval, predict and summary, and resumes the run for one more epoch.
func TestCNNTrainEvalPredictSummary(t *testing.T) {
	data := synthetic(t, 300, 60, 20, 20, 4)
	dir := t.TempDir()
	model := filepath.Join(dir, "cnn.safetensors")
	r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--model", "cnn", "--epochs", "1", "--augment",
		"--json", "--logdir", "none", "--out", model)
	j := parseTrainJSON(t, r)
	var full trainResult
	if err := json.Unmarshal([]byte(r.stdout), &full); err != nil {
		t.Fatal(err)
	}
	// The recipe applies to what was not set; --epochs was.
	if full.Model != "cnn" || full.Params != nn.CNN(20, 20, 10).NumParams() || full.Epochs != 1 || full.Optimizer != "adam" ||
		float32(full.LR) != 0.001 || full.Schedule != "cosine" || full.Batch != 64 || !strings.Contains(r.stderr, "augment") {
		t.Errorf("train --model cnn: %+v\n%s", full, r.stderr)
	}
	_, info, err := nn.LoadModel(model)
	if err != nil {
		t.Fatal(err)
	}
	if info.Spec.String() != "cnn" || info.Spec.Rows != 20 {
		t.Errorf("the model file holds a %s on %d×%d images", info.Spec, info.Spec.Rows, info.Spec.Cols)
	}

	t.Run("eval", func(t *testing.T) {
		r := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model, "--json")
		var ev evalReport
		if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
			t.Fatalf("eval --json: %v\n%v", err, r)
		}
		if ev.Arch != "cnn" || ev.Samples != 60 || ev.Accuracy != j.TestAccuracy[0] || ev.Loss != j.TestLoss[0] {
			t.Errorf("eval: %+v; training reported accuracy %v loss %v", ev, j.TestAccuracy[0], j.TestLoss[0])
		}
		checkConfusion(t, ev)
	})

	t.Run("predict", func(t *testing.T) {
		test, err := mnist.Load(data, mnist.Test)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "d.png")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, render(test.Image(0), test.Rows, test.Cols, 4, "black on white", rand.New(rand.NewPCG(1, 1))))
		f.Close()
		r := mustInproc(t, "predict", "--model", model, "--json", path)
		var p prediction
		if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&p); err != nil && err != io.EOF {
			t.Fatalf("predict --json: %v\n%v", err, r)
		}
		if p.Digit < 0 || p.Digit > 9 || len(p.Probabilities) != 10 || !p.Inverted {
			t.Errorf("prediction %+v", p)
		}
	})

	t.Run("summary", func(t *testing.T) {
		r := mustInproc(t, "summary", "--model", model)
		for _, w := range []string{"model.0 (Conv2d)", "[-1, 32, 16, 16]", "model.6 (Flatten)", "[-1, 256]",
			"Total params: " + groupThousands(nn.CNN(20, 20, 10).NumParams())} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("summary does not say %q:\n%s", w, r.stdout)
			}
		}
	})

	t.Run("resume", func(t *testing.T) {
		ckpt := strings.TrimSuffix(model, ".safetensors") + ".ckpt.safetensors"
		if r := inproc(context.Background(), "--data-dir", data, "train", "--backend", "cpu", "--resume", ckpt, "--augment", "--quiet"); r.code != 2 ||
			!strings.Contains(r.stderr, "--augment cannot be combined with --resume") {
			t.Errorf("--resume with --augment: %v", r)
		}
		r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--resume", ckpt, "--epochs", "2", "--json", "--logdir", "none")
		j2 := parseTrainJSON(t, r)
		if j2.Model != "cnn" || j2.Epochs != 2 || j2.TestAccuracy[0] != j.TestAccuracy[0] {
			t.Errorf("resumed: %+v; first run %+v", j2, j)
		}
	})
}

// TestCNNSummary prints the cnn's architecture for MNIST.
func TestCNNSummary(t *testing.T) {
	r := mustInproc(t, "summary", "--model", "cnn")
	for _, w := range []string{"model.0 (Conv2d)", "[-1, 32, 24, 24]", "model.2 (MaxPool2d)", "model.3 (Conv2d)", "[-1, 64, 8, 8]",
		"model.6 (Flatten)", "[-1, 1024]", "model.7 (Linear)", "[-1, 128]", "model.9 (Linear)", "Total params: 184,586"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("summary --model cnn does not say %q:\n%s", w, r.stdout)
		}
	}
	if r := inproc(context.Background(), "summary", "--model", "cnn", "--hidden", "64"); r.code != 2 || !strings.Contains(r.stderr, "architecture is fixed") {
		t.Errorf("summary --model cnn --hidden 64: %v", r)
	}
}

// cnnFloor is the accuracy TestRealMNISTCNN requires after one epoch of
// the recipe: far above what a network with a broken convolution reaches
// (the tutorial's mlp gets about 95% after one epoch, a linear model 92%),
// below the 98.5% the recipe measured (README, "A CNN for 99%+").
const cnnFloor = 0.98

// TestRealMNISTCNN is the shortened default recipe of `mnist train --model
// cnn` on the real MNIST: one epoch (the full recipe's first, at its
// starting learning rate) must reach cnnFloor. About 2 minutes of CPU.
func TestRealMNISTCNN(t *testing.T) {
	if raceEnabled {
		t.Skip("-race: an epoch of the cnn takes many minutes under the race detector (TestCNNTrainEvalPredictSummary covers the code)")
	}
	data := realData(t)
	out := filepath.Join(t.TempDir(), "cnn.safetensors")
	r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--model", "cnn", "--epochs", "1",
		"--json", "--logdir", "none", "--out", out)
	j := parseTrainJSON(t, r)
	t.Logf("one epoch of the cnn recipe: train loss %.4f, test loss %.4f, test accuracy %.4f", j.TrainLoss[0], j.TestLoss[0], j.TestAccuracy[0])
	if j.TestAccuracy[0] < cnnFloor {
		t.Errorf("test accuracy %.4f after one epoch of the cnn recipe, want at least %.3f", j.TestAccuracy[0], cnnFloor)
	}
}
