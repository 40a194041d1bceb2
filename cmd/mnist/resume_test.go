package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/safetensors"
)

// cancelOn is an output writer that cancels a run, as the first SIGINT or
// SIGTERM would, once the output contains trigger: a deterministic
// interruption at a chosen point of training.
type cancelOn struct {
	trigger string
	cancel  context.CancelCauseFunc
	sig     syscall.Signal
	mu      sync.Mutex
	buf     bytes.Buffer
	fired   bool
}

func (w *cancelOn) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.fired && strings.Contains(w.buf.String(), w.trigger) {
		w.fired = true
		w.cancel(interruption{w.sig})
	}
	return len(p), nil
}

// TestInterruptAndResume interrupts training in this process at chosen
// points (the context cancelled with an interruption, as the signal handler
// does), checks the exit status, the message and the checkpoint's position,
// resumes, and compares the result bit for bit with the uninterrupted run.
func TestInterruptAndResume(t *testing.T) {
	data := synthetic(t, 2000, 200, 28, 28, 5)
	for _, tc := range []struct {
		name    string
		extra   []string // training flags
		trigger string   // cancel once stderr holds this ("" cancels before the run)
		sig     syscall.Signal
		code    int
		at      string // the interruption message
		pos     nn.Position
	}{
		{name: "before the first step", sig: syscall.SIGINT, code: 130,
			at: "interrupted before the first step: nothing to save"},
		{name: "after an epoch", trigger: "epoch 2/4", sig: syscall.SIGINT, code: 130,
			at: "interrupted at epoch 3, step 1 of 32", pos: nn.Position{Epoch: 2, Step: 1}},
		{name: "mid-epoch", extra: []string{"--batch", "16"}, trigger: "Step [100/125]", sig: syscall.SIGINT, code: 130,
			at: "interrupted at epoch 1, step 101 of 125", pos: nn.Position{Epoch: 0, Step: 101}},
		// One step an epoch: the step taken after the signal is an epoch's last.
		{name: "after the last step of an epoch, before its evaluation", extra: []string{"--batch", "2000"}, trigger: "epoch 1/4", sig: syscall.SIGINT, code: 130,
			at: "interrupted at epoch 2, step 1 of 1", pos: nn.Position{Epoch: 1, Step: 1}},
		{name: "SIGTERM in the last epoch", extra: []string{"--optimizer", "adam", "--lr", "0.001"}, trigger: "epoch 3/4", sig: syscall.SIGTERM, code: 143,
			at: "interrupted at epoch 4, step 1 of 32", pos: nn.Position{Epoch: 3, Step: 1}},
		// Closing the terminal is an interruption like Ctrl-C (issue 17).
		{name: "SIGHUP after an epoch", trigger: "epoch 2/4", sig: syscall.SIGHUP, code: 129,
			at: "interrupted at epoch 3, step 1 of 32", pos: nn.Position{Epoch: 2, Step: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := func(dir string) []string {
				return append([]string{"--data-dir", data, "train", "--backend", "cpu", "--epochs", "4", "--seed", "7",
					"--logdir", "none", "--json", "--out", filepath.Join(dir, "m.safetensors")}, tc.extra...)
			}
			refDir, dir := t.TempDir(), t.TempDir()
			ref := mustInproc(t, args(refDir)...)
			refJSON := parseTrainJSON(t, ref)

			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			w := &cancelOn{trigger: tc.trigger, cancel: cancel, sig: tc.sig}
			if tc.trigger == "" {
				cancel(interruption{tc.sig})
			}
			var stdout bytes.Buffer
			code := run(ctx, append([]string{"mnist"}, args(dir)...), &stdout, w)
			stderr := w.buf.String()
			if code != tc.code {
				t.Fatalf("exit status %d, want %d\nstderr:\n%s", code, tc.code, stderr)
			}
			checkpoint := filepath.Join(dir, "m.ckpt.safetensors")
			if tc.trigger == "" { // interrupted during start-up: no step, nothing written
				if !strings.Contains(stderr, tc.at) || stdout.Len() != 0 {
					t.Errorf("stderr does not say %q (or stdout has a result %q):\n%s", tc.at, stdout.String(), stderr)
				}
				if names := listDir(t, dir); len(names) != 0 {
					t.Errorf("a run interrupted during start-up wrote %q", names)
				}
				return
			}
			for _, want := range []string{tc.at, "checkpoint saved to " + checkpoint, "resume with: mnist train --resume " + checkpoint + " --data-dir " + data} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr)
				}
			}
			if stdout.Len() != 0 {
				t.Errorf("an interrupted run printed a result: %s", stdout.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "m.safetensors")); err == nil {
				t.Error("an interrupted run saved a model file")
			}
			ck := loadCheckpoint(t, checkpoint)
			if got := ck.State.Position; got.Epoch != tc.pos.Epoch || got.Step != tc.pos.Step {
				t.Errorf("checkpoint at epoch %d step %d, want epoch %d step %d", got.Epoch, got.Step, tc.pos.Epoch, tc.pos.Step)
			}
			if len(ck.State.History) != tc.pos.Epoch {
				t.Errorf("checkpoint holds %d finished epochs, want %d", len(ck.State.History), tc.pos.Epoch)
			}

			r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--resume", checkpoint, "--logdir", "none", "--json")
			if !strings.Contains(r.stderr, "resuming "+checkpoint) {
				t.Errorf("the resumed run does not say it resumes:\n%s", r.stderr)
			}
			if d := sameHistory(parseTrainJSON(t, r), refJSON); d != "" {
				t.Errorf("resumed run differs from the uninterrupted one: %s", d)
			}
			if sha256File(t, filepath.Join(dir, "m.safetensors")) != sha256File(t, filepath.Join(refDir, "m.safetensors")) {
				t.Error("the resumed run's model file differs from the uninterrupted run's")
			}
		})
	}
}

// TestSameSeedSameLosses trains twice with the same seed: every epoch's
// losses and the model file must be identical on the CPU. Another seed must
// give other losses (else the comparison proves nothing).
func TestSameSeedSameLosses(t *testing.T) {
	data := synthetic(t, 2000, 200, 28, 28, 6)
	train := func(seed string) (trainJSON, string) {
		dir := t.TempDir()
		r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "2", "--seed", seed,
			"--logdir", "none", "--json", "--out", filepath.Join(dir, "m.safetensors"))
		return parseTrainJSON(t, r), sha256File(t, filepath.Join(dir, "m.safetensors"))
	}
	a, modelA := train("3")
	b, modelB := train("3")
	c, _ := train("4")
	if d := sameHistory(b, a); d != "" {
		t.Errorf("same seed, different results: %s", d)
	}
	if modelA != modelB {
		t.Error("same seed, different model files")
	}
	if sameHistory(c, a) == "" {
		t.Errorf("seeds 3 and 4 give the same losses %v", a.TrainLoss)
	}
}

// TestResumeRefusals checks that a checkpoint is only resumed with the
// data, architecture and settings it was made with.
func TestResumeRefusals(t *testing.T) {
	dataA := synthetic(t, 500, 100, 28, 28, 1)
	dataB := synthetic(t, 500, 100, 28, 28, 2) // same shape, other images
	data20 := synthetic(t, 500, 100, 20, 20, 1)
	dir := t.TempDir()
	checkpoint := filepath.Join(dir, "m.ckpt.safetensors")
	mustInproc(t, "--data-dir", dataA, "train", "--backend", "cpu", "--epochs", "2", "--quiet", "--logdir", "none",
		"--out", filepath.Join(dir, "m.safetensors"))
	original := sha256File(t, checkpoint)

	// Checkpoints damaged in ways a reader must notice.
	truncated := filepath.Join(dir, "truncated.ckpt.safetensors")
	b, err := os.ReadFile(checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, b[:len(b)-1000], 0o644); err != nil {
		t.Fatal(err)
	}
	rewrite := func(name string, change func(f *safetensors.File)) string {
		f, err := safetensors.ReadFile(checkpoint)
		if err != nil {
			t.Fatal(err)
		}
		change(f)
		path := filepath.Join(dir, name)
		if err := safetensors.WriteFile(path, f); err != nil {
			t.Fatal(err)
		}
		return path
	}
	badState := rewrite("state.ckpt.safetensors", func(f *safetensors.File) { f.Metadata["checkpoint"] = `{"position": {"epoch": "two"}}` })
	otherArch := rewrite("arch.ckpt.safetensors", func(f *safetensors.File) {
		f.Metadata["mnist_go"] = strings.Replace(f.Metadata["mnist_go"], `"Hidden":[64,32]`, `"Hidden":[128,32]`, 1)
		if !strings.Contains(f.Metadata["mnist_go"], `[128,32]`) {
			t.Fatalf("cannot find the hidden sizes in the metadata %s", f.Metadata["mnist_go"])
		}
	})

	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"other data of the same shape", []string{"--data-dir", dataB, "train", "--resume", checkpoint}, 1,
			[]string{"resume from " + checkpoint, "the checkpoint was trained on other data", filepath.Base(dataA)}},
		{"images of another size", []string{"--data-dir", data20, "train", "--resume", checkpoint}, 1,
			[]string{"resume from " + checkpoint, "28×28", "20×20"}},
		{"another architecture on the command line", []string{"--data-dir", dataA, "train", "--resume", checkpoint, "--hidden", "128,32"}, 2,
			[]string{"--hidden cannot be combined with --resume"}},
		{"another optimizer on the command line", []string{"--data-dir", dataA, "train", "--resume", checkpoint, "--optimizer", "adam"}, 2,
			[]string{"--optimizer cannot be combined with --resume"}},
		{"fewer epochs than done", []string{"--data-dir", dataA, "train", "--resume", checkpoint, "--epochs", "1"}, 2,
			[]string{"--epochs 1", "already finished 2 epochs"}},
		{"weights of another architecture than recorded", []string{"--data-dir", dataA, "train", "--resume", otherArch}, 1,
			[]string{otherArch, "mlp-128-32"}},
		{"a model file", []string{"--data-dir", dataA, "train", "--resume", filepath.Join(dir, "m.safetensors")}, 1,
			[]string{"is not a training checkpoint"}},
		{"a truncated checkpoint", []string{"--data-dir", dataA, "train", "--resume", truncated}, 1,
			[]string{truncated, "not a valid safetensors file"}},
		{"a checkpoint whose state does not parse", []string{"--data-dir", dataA, "train", "--resume", badState}, 1,
			[]string{badState, "checkpoint metadata is not valid"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "resumed.safetensors")
			args := append(append([]string{}, tc.args...), "--backend", "cpu", "--logdir", "none", "--out", out)
			r := inproc(context.Background(), args...)
			if r.code != tc.code {
				t.Errorf("exit status %d, want %d\n%v", r.code, tc.code, r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("a refused resume wrote a model")
			}
		})
	}
	if sha256File(t, checkpoint) != original {
		t.Error("a refused resume changed the checkpoint")
	}
}

// TestDivergence trains with --lr 1e6 through the real binary: the run must
// stop with exit status 1 and a message that names the step and suggests a
// lower learning rate, write no model, and leave a checkpoint already in
// place (here one copied from an earlier run) byte for byte intact.
func TestDivergence(t *testing.T) {
	binary(t)
	data := synthetic(t, 500, 100, 28, 28, 1)
	good := t.TempDir()
	mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "1", "--quiet", "--logdir", "none",
		"--out", filepath.Join(good, "m.safetensors"))

	for _, withCheckpoint := range []bool{false, true} {
		name := "no checkpoint yet"
		if withCheckpoint {
			name = "a good checkpoint in place"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			checkpoint := filepath.Join(dir, "m.ckpt.safetensors")
			var before string
			if withCheckpoint {
				copyFile(t, filepath.Join(good, "m.ckpt.safetensors"), checkpoint)
				before = sha256File(t, checkpoint)
			}
			r := bin(t, dir, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "3", "--lr", "1e6",
				"--checkpoint-every", "1", "--logdir", "none", "--json", "--out", filepath.Join(dir, "m.safetensors"), "--force")
			if r.code != 1 {
				t.Fatalf("exit status %d, want 1\n%v", r.code, r)
			}
			for _, w := range []string{"training diverged at step", "(epoch 1, step", "lower the learning rate (now 1e+06)"} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("a diverged run printed a result: %s", r.stdout)
			}
			// The checkpoint in place is not this run's: it is named as untouched.
			hint := checkpoint + ", from an earlier run, was not touched"
			if withCheckpoint {
				if !strings.Contains(r.stderr, hint) {
					t.Errorf("stderr does not say %q:\n%s", hint, r.stderr)
				}
				if sha256File(t, checkpoint) != before {
					t.Error("the last good checkpoint changed")
				}
				loadCheckpoint(t, checkpoint)
				if names := listDir(t, dir); len(names) != 1 {
					t.Errorf("left %q, want only the checkpoint", names)
				}
			} else {
				if strings.Contains(r.stderr, "last good checkpoint") {
					t.Errorf("names a checkpoint that does not exist:\n%s", r.stderr)
				}
				if names := listDir(t, dir); len(names) != 0 {
					t.Errorf("left %q, want nothing", names)
				}
			}
		})
	}
}
