package nn_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// TestCNNLoadsIntoPyTorch saves a cnn and loads the file into PyTorch's
// nn.Sequential(Conv2d(1, 32, 5), ReLU(), MaxPool2d(2), Conv2d(32, 64, 5),
// ReLU(), MaxPool2d(2), Flatten(), Linear(1024, 128), ReLU(), Linear(128,
// 10)) with load_state_dict(strict=True) (testdata/torch_cnn.py); PyTorch's
// logits for real test digits must be the host Classifier's. It needs a
// python3 that imports torch (/usr/bin/python3, or $MNIST_TORCH_PYTHON)
// and the real MNIST files, and skips without them or under -short.
func TestCNNLoadsIntoPyTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the PyTorch interop test")
	}
	python := os.Getenv("MNIST_TORCH_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	if out, err := exec.Command(python, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import torch (%v: %s); set MNIST_TORCH_PYTHON to one that can", python, err, strings.TrimSpace(string(out)))
	}
	test, err := mnist.Load(mnisttest.RealDataDir(t), mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	spec := nn.CNN(28, 28, 10)
	params := nn.InitParams(spec, 11)
	for i := range params {
		params[i] *= 3 // logits far apart, so a wrong layout cannot hide in the tolerance
	}
	norm := nn.MNISTNormalization
	dir := t.TempDir()
	model := filepath.Join(dir, "cnn.safetensors")
	if err := nn.SaveModel(model, params, nn.ModelInfo{Spec: spec, Norm: norm}); err != nil {
		t.Fatal(err)
	}
	const n = 6
	var images []byte
	for i := 0; i < n; i++ {
		images = append(images, test.Image(i*1667)...)
	}
	raw := filepath.Join(dir, "images.u8")
	if err := os.WriteFile(raw, images, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "torch_cnn.py"), model, raw, fmt.Sprint(n), "28", "28",
		fmt.Sprint(norm.Mean), fmt.Sprint(norm.Std))
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("torch_cnn.py: %v\n%s", err, stderr.String())
	}
	var out struct {
		Logits [][]float64 `json:"logits"`
		Keys   []string    `json:"keys"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("torch_cnn.py printed %q: %v", stdout.String(), err)
	}
	var names []string
	for _, p := range spec.Params() {
		names = append(names, p.Name)
	}
	if strings.Join(out.Keys, ",") != strings.Join(names, ",") {
		t.Errorf("PyTorch's state_dict keys %v, ours %v", out.Keys, names)
	}
	clf, err := nn.NewClassifier(params, nn.ModelInfo{Spec: spec, Norm: norm})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Logits) != n {
		t.Fatalf("PyTorch returned %d rows of logits, want %d", len(out.Logits), n)
	}
	for i, logits := range out.Logits {
		probs, err := clf.Probabilities(test.Image(i * 1667))
		if err != nil {
			t.Fatal(err)
		}
		// Softmax of PyTorch's logits against our probabilities.
		mx := math.Inf(-1)
		for _, z := range logits {
			mx = math.Max(mx, z)
		}
		var sum float64
		for _, z := range logits {
			sum += math.Exp(z - mx)
		}
		best, ours := 0, 0
		for c, z := range logits {
			if p := math.Exp(z-mx) / sum; math.Abs(p-probs[c]) > 1e-4 {
				t.Errorf("digit %d, class %d: PyTorch's probability %.6f, ours %.6f", i, c, p, probs[c])
			}
			if z > logits[best] {
				best = c
			}
			if probs[c] > probs[ours] {
				ours = c
			}
		}
		if best != ours {
			t.Errorf("digit %d: PyTorch predicts %d, we predict %d", i, best, ours)
		}
		t.Logf("digit %d (label %d): PyTorch logits %.3f", i, test.Labels[i*1667], logits)
	}
}
