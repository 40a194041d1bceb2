package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/gpu"
)

// badInputEnv is what a row of the bad-input table can refer to.
type badInputEnv struct {
	data string // a good synthetic data set: 300 training and 100 test images of 28×28
	d20  string // the same kind of data at 20×20
	tmp  string // an empty directory of the row's own, also the working directory
	good string // a model trained on data
}

// badInput is one row: the command line, the exit status and substrings of
// stderr that name the thing at fault and say what to do.
type badInput struct {
	name  string
	args  func(e badInputEnv) []string
	setup func(t *testing.T, e badInputEnv) // optional; may t.Skip
	code  int
	want  []string
}

// trainArgs is a quick, valid training command line on data, writing into tmp.
func trainArgs(e badInputEnv, extra ...string) []string {
	return append([]string{"--data-dir", e.data, "train", "--backend", "cpu", "--epochs", "1", "--quiet",
		"--out", filepath.Join(e.tmp, "model.safetensors"), "--logdir", "none"}, extra...)
}

// brokenData copies the good data set into a directory of the row's own
// and lets change break it; the row's args find it at <tmp>/data.
func brokenData(change func(t *testing.T, dir string)) func(t *testing.T, e badInputEnv) {
	return func(t *testing.T, e badInputEnv) {
		dir := filepath.Join(e.tmp, "data")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
			b, err := os.ReadFile(filepath.Join(e.data, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		change(t, dir)
	}
}

func trainOnBroken(e badInputEnv) []string {
	return []string{"--data-dir", filepath.Join(e.tmp, "data"), "train", "--backend", "cpu", "--quiet",
		"--out", filepath.Join(e.tmp, "model.safetensors"), "--logdir", "none"}
}

// The HTML page a failed download saves under the file's name.
const htmlPage = "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func skipAsRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skipf("running as root, which reads and writes through any permission bits: %s cannot be provoked with chmod", what)
	}
}

var badInputs = []badInput{
	// Nonsense flags: exit status 2.
	{name: "batch 0", args: func(e badInputEnv) []string { return trainArgs(e, "--batch", "0") }, code: 2,
		want: []string{"--batch 0", "must be at least 1"}},
	{name: "batch larger than the data set", args: func(e badInputEnv) []string { return trainArgs(e, "--batch", "301") }, code: 2,
		want: []string{"--batch 301 is larger than the training set", "300 samples"}},
	{name: "zero epochs", args: func(e badInputEnv) []string { return trainArgs(e, "--epochs", "0") }, code: 2,
		want: []string{"--epochs 0", "must be at least 1"}},
	{name: "negative epochs", args: func(e badInputEnv) []string { return trainArgs(e, "--epochs", "-3") }, code: 2,
		want: []string{"--epochs -3", "must be at least 1"}},
	{name: "epochs not a number", args: func(e badInputEnv) []string { return trainArgs(e, "--epochs", "ten") }, code: 2,
		want: []string{`invalid value "ten" for flag -epochs`, "mnist train --help"}},
	{name: "lr 0", args: func(e badInputEnv) []string { return trainArgs(e, "--lr", "0") }, code: 2,
		want: []string{"--lr 0", "learning rate must be positive"}},
	{name: "negative lr", args: func(e badInputEnv) []string { return trainArgs(e, "--lr", "-0.1") }, code: 2,
		want: []string{"--lr -0.1", "learning rate must be positive"}},
	{name: "lr NaN", args: func(e badInputEnv) []string { return trainArgs(e, "--lr", "NaN") }, code: 2,
		want: []string{"--lr NaN", "learning rate must be positive"}},
	{name: "unknown backend", args: func(e badInputEnv) []string { return trainArgs(e, "--backend", "tpu") }, code: 2,
		want: []string{`unknown backend "tpu"`, "choose auto or one of", "cpu"}},
	{name: "unknown model", args: func(e badInputEnv) []string { return trainArgs(e, "--model", "resnet") }, code: 2,
		want: []string{`unknown model "resnet"`, "the available models are mlp and cnn"}},
	{name: "hidden with the cnn", args: func(e badInputEnv) []string { return trainArgs(e, "--model", "cnn", "--hidden", "64") }, code: 2,
		want: []string{"--hidden 64", "the cnn's architecture is fixed", "widths of the mlp"}},
	{name: "preset with the cnn", args: func(e badInputEnv) []string { return trainArgs(e, "--model", "cnn", "--preset", "tutorial") }, code: 2,
		want: []string{"--preset tutorial", "cannot be combined with --model cnn"}},
	{name: "hidden sizes that do not parse", args: func(e badInputEnv) []string { return trainArgs(e, "--hidden", "64,x") }, code: 2,
		want: []string{`hidden sizes "64,x"`, `"x" is not a layer width`, "like 64,32"}},
	{name: "hidden size 0", args: func(e badInputEnv) []string { return trainArgs(e, "--hidden", "64,0") }, code: 2,
		want: []string{`hidden sizes "64,0"`, "positive integers"}},
	{name: "negative hidden size", args: func(e badInputEnv) []string { return trainArgs(e, "--hidden", "-64") }, code: 2,
		want: []string{`hidden sizes "-64"`, "positive integers"}},
	{name: "unknown optimizer", args: func(e badInputEnv) []string { return trainArgs(e, "--optimizer", "rmsprop") }, code: 2,
		want: []string{`unknown optimizer "rmsprop"`, "choose sgd or adam"}},
	{name: "unknown schedule", args: func(e badInputEnv) []string { return trainArgs(e, "--schedule", "linear") }, code: 2,
		want: []string{`unknown learning-rate schedule "linear"`, "choose constant, cosine or step"}},
	{name: "momentum 1.5", args: func(e badInputEnv) []string { return trainArgs(e, "--momentum", "1.5") }, code: 2,
		want: []string{"momentum 1.5", "[0, 1)"}},
	{name: "negative checkpoint interval", args: func(e badInputEnv) []string { return trainArgs(e, "--checkpoint-every", "-1") }, code: 2,
		want: []string{"--checkpoint-every -1", "must be 0 (never) or a number of epochs"}},
	{name: "unknown preset", args: func(e badInputEnv) []string { return trainArgs(e, "--preset", "fast") }, code: 2,
		want: []string{`unknown preset "fast"`, "tutorial"}},
	{name: "unknown flag", args: func(e badInputEnv) []string { return trainArgs(e, "--learning-rate", "0.1") }, code: 2,
		want: []string{"flag provided but not defined: -learning-rate", "mnist train --help"}},
	{name: "stray argument", args: func(e badInputEnv) []string { return trainArgs(e, "data/") }, code: 2,
		want: []string{"train takes no arguments", `"data/"`}},
	{name: "unknown command", args: func(e badInputEnv) []string { return []string{"--data-dir", e.data, "fit"} }, code: 2,
		want: []string{`unknown command "fit"`, "mnist help"}},
	{name: "resume with a changed hyperparameter", args: func(e badInputEnv) []string {
		return trainArgs(e, "--resume", filepath.Join(e.tmp, "model.ckpt.safetensors"), "--lr", "0.1")
	}, code: 2, want: []string{"--lr cannot be combined with --resume", "keeps the settings it was started with"}},

	// The data directory: exit status 1.
	{name: "missing data directory", args: func(e badInputEnv) []string {
		return []string{"--data-dir", filepath.Join(e.tmp, "nowhere"), "train", "--backend", "cpu", "--out", filepath.Join(e.tmp, "m.safetensors"), "--logdir", "none"}
	}, code: 1, want: []string{"nowhere does not exist", "mnist data --data-dir"}},
	{name: "data directory is a file", setup: func(t *testing.T, e badInputEnv) { writeFile(t, filepath.Join(e.tmp, "data"), htmlPage) },
		args: trainOnBroken, code: 1, want: []string{"data is not a directory", "point --data-dir at a directory holding the four IDX files"}},
	{name: "empty data directory", setup: func(t *testing.T, e badInputEnv) { os.Mkdir(filepath.Join(e.tmp, "data"), 0o755) },
		args: trainOnBroken, code: 1, want: []string{"train-images-idx3-ubyte.gz: missing", "mnist data --data-dir"}},
	{name: "one file missing", setup: brokenData(func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")) }),
		args: trainOnBroken, code: 1, want: []string{"t10k-labels-idx1-ubyte.gz: missing", "mnist data --data-dir"}},
	{name: "unreadable data directory", setup: func(t *testing.T, e badInputEnv) {
		skipAsRoot(t, "an unreadable data directory")
		brokenData(func(t *testing.T, dir string) {
			if err := os.Chmod(dir, 0); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(dir, 0o755) })
		})(t, e)
	}, args: trainOnBroken, code: 1, want: []string{"data", "permission denied"}},
	{name: "unreadable data file", setup: brokenData(func(t *testing.T, dir string) {
		skipAsRoot(t, "an unreadable data file")
		if err := os.Chmod(filepath.Join(dir, "train-labels-idx1-ubyte.gz"), 0); err != nil {
			t.Fatal(err)
		}
	}), args: trainOnBroken, code: 1, want: []string{"train-labels-idx1-ubyte.gz", "permission denied"}},
	{name: "data file is a directory", setup: brokenData(func(t *testing.T, dir string) {
		path := filepath.Join(dir, "train-images-idx3-ubyte.gz")
		os.Remove(path)
		os.Mkdir(path, 0o755)
	}), args: trainOnBroken, code: 1, want: []string{"train-images-idx3-ubyte.gz", "is a directory"}},
	{name: "HTML saved as the training images", setup: brokenData(func(t *testing.T, dir string) {
		writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte.gz"), htmlPage)
	}), args: trainOnBroken, code: 1, want: []string{"train-images-idx3-ubyte.gz: not an IDX file", "HTML from a failed download"}},
	{name: "HTML saved as the test labels", setup: brokenData(func(t *testing.T, dir string) {
		writeFile(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), htmlPage)
	}), args: trainOnBroken, code: 1, want: []string{"t10k-labels-idx1-ubyte.gz: not an IDX file", "HTML from a failed download"}},
	{name: "truncated download", setup: brokenData(func(t *testing.T, dir string) {
		path := filepath.Join(dir, "train-images-idx3-ubyte.gz")
		b, _ := os.ReadFile(path)
		writeFile(t, path, string(b[:len(b)/2]))
	}), args: trainOnBroken, code: 1, want: []string{"train-images-idx3-ubyte.gz", "truncated", "incomplete download"}},
	{name: "labels saved as images", setup: brokenData(func(t *testing.T, dir string) {
		copyFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), filepath.Join(dir, "train-images-idx3-ubyte.gz"))
	}), args: trainOnBroken, code: 1, want: []string{"train-images-idx3-ubyte.gz", "are the image and label files swapped"}},
	{name: "images and labels of different data sets", setup: brokenData(func(t *testing.T, dir string) {
		copyFile(t, filepath.Join(dir, "train-labels-idx1-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	}), args: trainOnBroken, code: 1, want: []string{"holds 100 images but", "holds 300 labels", "do not belong together"}},

	// The output path: exit status 1, before any training.
	{name: "output directory does not exist", args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.data, "train", "--backend", "cpu", "--out", filepath.Join(e.tmp, "no", "such", "model.safetensors"), "--logdir", "none"}
	}, code: 1, want: []string{"cannot write", "no/such/model.safetensors", "does not exist (create it or choose another path)"}},
	{name: "output path is a directory", args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.data, "train", "--backend", "cpu", "--out", e.tmp, "--logdir", "none"}
	}, code: 1, want: []string{"cannot write", "it is a directory", "give a file name"}},
	{name: "output directory cannot be written", setup: func(t *testing.T, e badInputEnv) {
		dir := filepath.Join(e.tmp, "ro")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		readOnlyDir(t, dir)
	}, args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.data, "train", "--backend", "cpu", "--out", filepath.Join(e.tmp, "ro", "model.safetensors"), "--logdir", "none"}
	}, code: 1, want: []string{"cannot write", "ro/model.safetensors"}},

	// Backends.
	{name: "cuda in a build without it", setup: func(t *testing.T, e badInputEnv) {
		if gpu.Available {
			t.Skip("this build has CUDA: --backend cuda may well work")
		}
	}, args: func(e badInputEnv) []string { return trainArgs(e, "--backend", "cuda") }, code: 1,
		want: []string{"backend cuda", "built without CUDA support"}},

	// Resuming from files that are not checkpoints.
	{name: "resume from a missing checkpoint", args: func(e badInputEnv) []string {
		return trainArgs(e, "--resume", filepath.Join(e.tmp, "model.ckpt.safetensors"))
	}, code: 1, want: []string{"model.ckpt.safetensors", "no such file (mnist train writes its checkpoint next to the model"}},
	{name: "resume from a model file", args: func(e badInputEnv) []string { return trainArgs(e, "--resume", e.good) }, code: 1,
		want: []string{"is not a training checkpoint", "resume from the <out>.ckpt.safetensors file"}},
	{name: "resume from an HTML page", setup: func(t *testing.T, e badInputEnv) {
		writeFile(t, filepath.Join(e.tmp, "page.ckpt.safetensors"), htmlPage)
	}, args: func(e badInputEnv) []string {
		return trainArgs(e, "--resume", filepath.Join(e.tmp, "page.ckpt.safetensors"))
	}, code: 1,
		want: []string{"page.ckpt.safetensors", "not a valid safetensors file"}},

	// eval and predict.
	{name: "eval a missing model", args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.data, "eval", "--backend", "cpu", "--model", filepath.Join(e.tmp, "none.safetensors")}
	}, code: 1, want: []string{"none.safetensors", "no such file or directory"}},
	{name: "eval on a split that does not exist", args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.data, "eval", "--backend", "cpu", "--model", e.good, "--split", "validation"}
	}, code: 2, want: []string{"validation"}},
	{name: "eval on images of another size", args: func(e badInputEnv) []string {
		return []string{"--data-dir", e.d20, "eval", "--backend", "cpu", "--model", e.good}
	}, code: 1, want: []string{"takes 28×28 images", "holds 20×20 images"}},
	{name: "eval an HTML page", setup: func(t *testing.T, e badInputEnv) { writeFile(t, filepath.Join(e.tmp, "page.safetensors"), htmlPage) },
		args: func(e badInputEnv) []string {
			return []string{"--data-dir", e.data, "eval", "--backend", "cpu", "--model", filepath.Join(e.tmp, "page.safetensors")}
		}, code: 1, want: []string{"page.safetensors", "not a valid safetensors file"}},
	{name: "predict without images", args: func(e badInputEnv) []string { return []string{"predict", "--model", e.good} }, code: 2,
		want: []string{"predict needs at least one image file"}},
	{name: "predict with --top 0", args: func(e badInputEnv) []string { return []string{"predict", "--model", e.good, "--top", "0", "x.png"} }, code: 2,
		want: []string{"--top 0", "must be at least 1"}},
	{name: "predict an image that is not one", setup: func(t *testing.T, e badInputEnv) { writeFile(t, filepath.Join(e.tmp, "digit.png"), htmlPage) },
		args: func(e badInputEnv) []string {
			return []string{"predict", "--model", e.good, filepath.Join(e.tmp, "digit.png")}
		}, code: 1,
		want: []string{"digit.png", "1 of 1 images could not be read"}},
	{name: "info on a missing data directory", args: func(e badInputEnv) []string {
		return []string{"--data-dir", filepath.Join(e.tmp, "nowhere"), "info"}
	}, code: 1, want: []string{"nowhere does not exist", "mnist data --data-dir"}},
}

// TestBadInputs runs every row of badInputs through the real binary and
// checks the exit status, the message, and that nothing was written but what
// the row set up.
func TestBadInputs(t *testing.T) {
	binary(t)
	env := badInputEnv{data: synthetic(t, 300, 100, 28, 28, 1), d20: synthetic(t, 300, 100, 20, 20, 1)}
	goodDir := t.TempDir()
	env.good = filepath.Join(goodDir, "good.safetensors")
	mustInproc(t, "--data-dir", env.data, "train", "--backend", "cpu", "--epochs", "1", "--quiet", "--out", env.good, "--logdir", "none")

	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			e := env
			e.tmp = t.TempDir()
			if tc.setup != nil {
				tc.setup(t, e)
			}
			before := listDir(t, e.tmp)
			r := bin(t, e.tmp, tc.args(e)...)
			if r.code != tc.code {
				t.Errorf("exit status %d, want %d\n%v", r.code, tc.code, r)
			}
			msg := r.stderr
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("stderr does not say %q:\n%s", w, msg)
				}
			}
			if !strings.HasPrefix(strings.TrimLeft(lastLines(msg), "\n"), "mnist: ") {
				t.Errorf("the error does not start with \"mnist: \":\n%s", msg)
			}
			if strings.Contains(msg, "panic") || strings.Contains(msg, "goroutine ") {
				t.Errorf("the program panicked:\n%s", msg)
			}
			if after := listDir(t, e.tmp); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the failed command left files behind: before %q, after %q", before, after)
			}
		})
	}
}

// lastLines drops the lines before the error (the "backend ..." line that
// train prints first), so the error's own first line can be checked.
func lastLines(stderr string) string {
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "mnist: ") {
			return strings.Join(lines[i:], "\n")
		}
	}
	return stderr
}
