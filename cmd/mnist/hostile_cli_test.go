package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/safetensors"
)

// The hostile files and requests of issue 16, as rows of the bad-input
// table: each must end in a clear error that names the input and the
// limit, without a panic, and without touching a file.
func init() { badInputs = append(badInputs, hostileInputs...) }

// craftModel copies the good model to <tmp>/crafted.safetensors with its
// metadata changed by change (the digest is kept, as an attacker would).
func craftModel(change func(md map[string]string)) func(t *testing.T, e badInputEnv) {
	return func(t *testing.T, e badInputEnv) {
		craftFile(t, e.good, filepath.Join(e.tmp, "crafted.safetensors"), change)
	}
}

func craftFile(t *testing.T, src, dst string, change func(md map[string]string)) {
	t.Helper()
	f, err := safetensors.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	change(f.Metadata)
	if err := safetensors.WriteFile(dst, f); err != nil {
		t.Fatal(err)
	}
}

// replaceIn replaces old by new in the metadata value of key, failing when
// old is not there.
func replaceIn(t *testing.T, md map[string]string, key, old, new string) {
	t.Helper()
	if !strings.Contains(md[key], old) {
		t.Fatalf("metadata %s has no %q: %s", key, old, md[key])
	}
	md[key] = strings.Replace(md[key], old, new, 1)
}

func crafted(e badInputEnv) string { return filepath.Join(e.tmp, "crafted.safetensors") }

func evalCrafted(e badInputEnv) []string {
	return []string{"--data-dir", e.data, "eval", "--backend", "cpu", "--model", crafted(e)}
}

// craftMeta is a row's setup that changes one field of the good model's mnist_go.
func craftMeta(old, new string) func(t *testing.T, e badInputEnv) {
	return func(t *testing.T, e badInputEnv) {
		craftModel(func(md map[string]string) { replaceIn(t, md, "mnist_go", old, new) })(t, e)
	}
}

// craftCheckpoint trains two epochs into <tmp> and changes the checkpoint's
// position or configuration.
func craftCheckpoint(old, new string) func(t *testing.T, e badInputEnv) {
	return func(t *testing.T, e badInputEnv) {
		out := filepath.Join(t.TempDir(), "m.safetensors")
		mustInproc(t, "--data-dir", e.data, "train", "--backend", "cpu", "--epochs", "2", "--quiet", "--logdir", "none", "--out", out)
		craftFile(t, strings.TrimSuffix(out, ".safetensors")+".ckpt.safetensors", filepath.Join(e.tmp, "crafted.ckpt.safetensors"),
			func(md map[string]string) { replaceIn(t, md, "checkpoint", old, new) })
	}
}

func resumeCrafted(e badInputEnv) []string {
	return []string{"--data-dir", e.data, "train", "--backend", "cpu", "--quiet", "--logdir", "none",
		"--resume", filepath.Join(e.tmp, "crafted.ckpt.safetensors"), "--out", filepath.Join(e.tmp, "crafted.safetensors")}
}

var hostileInputs = []badInput{
	{name: "train with hidden layers too large to hold", args: func(e badInputEnv) []string {
		return trainArgs(e, "--hidden", "65536,65536")
	}, code: 2, want: []string{"--hidden", "limit of 33554432"}},
	{name: "model file claiming a hidden width of 2^40", setup: craftMeta(`"Hidden":[64,32]`, `"Hidden":[1099511627776,32]`),
		args: evalCrafted, code: 1, want: []string{"crafted.safetensors", "hidden layer width 1099511627776", "65536"}},
	{name: "model file claiming 1e9 rows", setup: craftMeta(`"Rows":28`, `"Rows":1000000000`),
		args: evalCrafted, code: 1, want: []string{"crafted.safetensors", "model input 1000000000×28", "1024"}},
	{name: "model file claiming 1e9 classes", setup: craftMeta(`"Classes":10`, `"Classes":1000000000`),
		args: evalCrafted, code: 1, want: []string{"crafted.safetensors", "1000000000 classes", "256"}},
	{name: "model file with normalisation std 1e-45", setup: craftMeta(`"std":0.3081`, `"std":1e-45`),
		args: evalCrafted, code: 1, want: []string{"crafted.safetensors", "normalisation std", "0.001"}},
	{name: "model file with normalisation std -1", setup: craftMeta(`"std":0.3081`, `"std":-1`),
		args: evalCrafted, code: 1, want: []string{"crafted.safetensors", "normalisation std -1"}},
	{name: "model file whose metadata was edited", setup: craftMeta(`"epochs":1`, `"epochs":100`),
		args: evalCrafted, code: 1, want: []string{"crafted.safetensors", "do not match the SHA-256"}},
	{name: "summary of a model claiming a hidden width of 2^40", setup: craftMeta(`"Hidden":[64,32]`, `"Hidden":[1099511627776,32]`),
		args: func(e badInputEnv) []string { return []string{"summary", "--model", crafted(e)} },
		code: 1, want: []string{"crafted.safetensors", "hidden layer width"}},
	{name: "model /dev/zero", args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.data, "eval", "--backend", "cpu", "--model", "/dev/zero"}
	}, code: 1, want: []string{"/dev/zero", "not a valid safetensors file"}},
	{name: "resume from a checkpoint at step -1", setup: craftCheckpoint(`"step":0`, `"step":-1`),
		args: resumeCrafted, code: 1, want: []string{"crafted.ckpt.safetensors", "step -1"}},
	{name: "resume from a checkpoint at epoch -3", setup: craftCheckpoint(`"epoch":2`, `"epoch":-3`),
		args: resumeCrafted, code: 1, want: []string{"crafted.ckpt.safetensors", "epoch -3"}},
	{name: "eval of a 3-class model on 10-class data", setup: func(t *testing.T, e badInputEnv) {
		spec := nn.MLP(28, 28, []int{8}, 3)
		if err := nn.SaveModel(crafted(e), nn.InitParams(spec, 1), nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}); err != nil {
			t.Fatal(err)
		}
	}, args: evalCrafted, code: 1, want: []string{"has label", "the model has 3 classes, 0 to 2"}},
	{name: "plot 100000 pixels wide", args: func(e badInputEnv) []string {
		return []string{"plot", "--width", "100000", "--out", filepath.Join(e.tmp, "c.png"), e.tmp}
	}, code: 2, want: []string{"--width 100000", "at most 8192"}},
}

// TestInterruptedStartupKeepsCheckpoint is the start-up case of issue 16:
// a run interrupted before its first step must leave an existing checkpoint
// (of an earlier run at the same path) as it was.
func TestInterruptedStartupKeepsCheckpoint(t *testing.T) {
	data := synthetic(t, 300, 100, 28, 28, 1)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.safetensors")
	mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "1", "--quiet", "--logdir", "none", "--out", out)
	ckpt := strings.TrimSuffix(out, ".safetensors") + ".ckpt.safetensors"
	before := sha256File(t, ckpt)
	ctx := cancelledBySignal()
	r := inproc(ctx, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "3", "--logdir", "none", "--out", out, "--force")
	if r.code != 130 || !strings.Contains(r.stderr, "before the first step") {
		t.Errorf("train interrupted at start-up: %v, want exit 130 and \"before the first step\"", r)
	}
	if sha256File(t, ckpt) != before {
		t.Error("an interrupted start-up replaced the existing checkpoint")
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the earlier model is gone: %v", err)
	}
}

// cancelledBySignal returns a context already cancelled as the first Ctrl-C
// cancels the command's.
func cancelledBySignal() context.Context {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(interruption{syscall.SIGINT})
	return ctx
}

// TestTrainingMemoryCheck checks the refusal of a model and batch that need
// more memory than is available, and that it names the flags.
func TestTrainingMemoryCheck(t *testing.T) {
	spec := nn.MLP(28, 28, []int{4096}, 10) // 3.3 M parameters: 52 MB of weights and state
	if err := checkTrainingMemory(spec, 64, 8<<30); err != nil {
		t.Errorf("8 GiB available: %v", err)
	}
	if err := checkTrainingMemory(spec, 64, 0); err != nil {
		t.Errorf("unknown memory: %v", err)
	}
	err := checkTrainingMemory(spec, 60000, 1<<30) // 60000×4096 activations: about 3 GiB
	if err == nil || !strings.Contains(err.Error(), "--batch") || !strings.Contains(err.Error(), "1.0 GiB available") {
		t.Errorf("60000-sample batches with 1 GiB available: %v", err)
	}
	if memAvailable() <= 0 {
		t.Log("no MemAvailable on this system: the check is skipped there")
	}
}
