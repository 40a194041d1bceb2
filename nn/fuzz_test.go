package nn_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/safetensors"
)

// fuzzSpec is a small model, so that each fuzz input is cheap.
var fuzzSpec = nn.MLP(8, 8, []int{6}, 10)

// craftedFiles returns a valid file at path (written by write) and copies
// of it with the metadata changes of issue 16 (the digest kept, as an
// attacker would): huge widths, sizes and class counts, tiny or negative
// std, a position of -1.
func craftedFiles(t testing.TB, path string, write func(string), key string, edits [][2]string) [][]byte {
	write(path)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := [][]byte{good, nil, make([]byte, 64), good[:len(good)/2]}
	for _, e := range edits {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(f.Metadata[key], e[0]) {
			t.Fatalf("metadata %s has no %q: %s", key, e[0], f.Metadata[key])
		}
		f.Metadata[key] = strings.Replace(f.Metadata[key], e[0], e[1], 1)
		crafted := filepath.Join(filepath.Dir(path), "crafted")
		if err := safetensors.WriteFile(crafted, f); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(crafted)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

var modelEdits = [][2]string{
	{`"Hidden":[6]`, `"Hidden":[1099511627776]`},
	{`"Rows":8`, `"Rows":1000000000`},
	{`"Classes":10`, `"Classes":1000000000`},
	{`"std":0.3081`, `"std":1e-45`},
	{`"std":0.3081`, `"std":-1`},
	{`"Model":"mlp"`, `"Model":"cnn"`},
}

// FuzzLoadModel feeds arbitrary files to ReadModel (LoadModel on a stream): no panic, and a model
// that loads is within the limits, and answers with finite probabilities.
func FuzzLoadModel(f *testing.F) {
	write := func(path string) {
		info := nn.ModelInfo{Spec: fuzzSpec, Norm: nn.MNISTNormalization, Epochs: 1, TestAccuracy: 0.5}
		if err := nn.SaveModel(path, nn.InitParams(fuzzSpec, 1), info); err != nil {
			f.Fatal(err)
		}
	}
	for _, b := range craftedFiles(f, filepath.Join(f.TempDir(), "m.safetensors"), write, "mnist_go", modelEdits) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type loaded struct {
			params []float32
			info   nn.ModelInfo
		}
		params, info, err := nn.ReadModel(bytes.NewReader(data), "fuzz")
		m := loaded{params, info}
		if err != nil {
			return
		}
		if err := m.info.Validate(); err != nil || len(m.params) != m.info.Spec.NumParams() {
			t.Fatalf("loaded a model outside the limits (%v) or with %d of %d parameters", err, len(m.params), m.info.Spec.NumParams())
		}
		c, err := nn.NewClassifier(m.params, m.info)
		if err != nil {
			t.Fatalf("a loaded model has no classifier: %v", err)
		}
		probs, err := c.Probabilities(make([]uint8, m.info.Spec.Inputs()))
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, p := range probs {
			if math.IsNaN(p) || p < 0 {
				t.Fatalf("probabilities %v", probs)
			}
			sum += p
		}
		if math.Abs(sum-1) > 1e-6 {
			t.Fatalf("probabilities sum to %g", sum)
		}
	})
}

// FuzzLoadCheckpoint feeds arbitrary files to ReadCheckpoint (LoadCheckpoint on a stream): no panic, and
// a checkpoint that loads has a valid configuration and position, and
// optimiser state of the model's size.
func FuzzLoadCheckpoint(f *testing.F) {
	train := mnisttest.SyntheticDataset(40, 8, 8, 1)
	test := mnisttest.SyntheticDataset(10, 8, 8, 2)
	write := func(path string) {
		b, _, err := nn.Open("cpu")
		if err != nil {
			f.Skip(err)
		}
		defer b.Close()
		cfg := nn.TrainConfig{Epochs: 2, Batch: 16, Schedule: nn.Schedule{Name: "constant", Base: 0.05, Epochs: 2},
			Optimizer: nn.OptimizerConfig{Name: "sgd", Momentum: 0.9}, Seed: 1, Shuffle: true, Norm: nn.MNISTNormalization}
		tr, err := nn.NewTrainer(b, fuzzSpec, cfg, train, test)
		if err != nil {
			f.Fatal(err)
		}
		defer tr.Close()
		if err := tr.TrainEpoch(f.Context()); err != nil {
			f.Fatal(err)
		}
		ck, err := tr.Capture(nn.ModelInfo{Spec: fuzzSpec, Norm: cfg.Norm})
		if err != nil {
			f.Fatal(err)
		}
		if err := nn.SaveCheckpoint(path, ck); err != nil {
			f.Fatal(err)
		}
	}
	edits := [][2]string{{`"step":`, `"step":-1,"x":`}, {`"epoch":`, `"epoch":-3,"y":`}, {`"Batch":16`, `"Batch":-16`}, {`"updates":`, `"updates":99999,"z":`}}
	for _, b := range craftedFiles(f, filepath.Join(f.TempDir(), "c.ckpt.safetensors"), write, "checkpoint", edits) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := nn.ReadCheckpoint(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		if err := ck.State.Validate(); err != nil {
			t.Fatalf("loaded a checkpoint with an invalid state: %v", err)
		}
		if err := ck.Info.Validate(); err != nil || len(ck.Params) != ck.Info.Spec.NumParams() {
			t.Fatalf("loaded a checkpoint outside the limits (%v) or with %d of %d parameters", err, len(ck.Params), ck.Info.Spec.NumParams())
		}
		for name, v := range ck.Optimizer {
			if len(v) != len(ck.Params) {
				t.Fatalf("%s has %d values for %d parameters", name, len(v), len(ck.Params))
			}
		}
	})
}
