package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/tfevents"
)

// decodePNG reads a PNG file and fails the test unless it is one.
func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// TestInfoOtherDataSet runs `mnist info` on a data set in MNIST's format
// that is not MNIST: 20×20 images, other counts.
func TestInfoOtherDataSet(t *testing.T) {
	data := synthetic(t, 500, 120, 20, 20, 1)
	r := mustInproc(t, "--data-dir", data, "info", "--json")
	var s dataSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("info --json: %v\n%v", err, r)
	}
	if s.Dir != data {
		t.Errorf("data_dir %q, want %q", s.Dir, data)
	}
	for _, split := range []struct {
		name string
		got  int
		want int
		st   []int
		rows int
		cols int
		mean float64
		std  float64
	}{
		{"train", s.Train.Samples, 500, s.Train.Labels[:], s.Train.Rows, s.Train.Cols, s.Train.Mean, s.Train.Std},
		{"test", s.Test.Samples, 120, s.Test.Labels[:], s.Test.Rows, s.Test.Cols, s.Test.Mean, s.Test.Std},
	} {
		sum := 0
		for _, n := range split.st {
			sum += n
		}
		if split.got != split.want || sum != split.want || split.rows != 20 || split.cols != 20 {
			t.Errorf("%s: %d samples (labels sum to %d) of %d×%d, want %d of 20×20", split.name, split.got, sum, split.rows, split.cols, split.want)
		}
		if !(split.mean > 0 && split.mean < 1 && split.std > 0 && split.std < 1) {
			t.Errorf("%s: pixel mean %v std %v, want fractions of full scale", split.name, split.mean, split.std)
		}
	}
	text := mustInproc(t, "--data-dir", data, "info")
	for _, w := range []string{"train    500 images, 20×20", "test     120 images, 20×20"} {
		if !strings.Contains(text.stdout, w) {
			t.Errorf("info does not say %q:\n%s", w, text.stdout)
		}
	}
}

// TestTrainLogdirEvalPredictPlot trains on 20×20 synthetic data with a run
// log and checks what TensorBoard would see, then uses the run directory
// and the model with plot, eval, predict and summary.
func TestTrainLogdirEvalPredictPlot(t *testing.T) {
	data := synthetic(t, 600, 150, 20, 20, 2)
	dir := t.TempDir()
	runDir := filepath.Join(dir, "runs", "exp1")
	model := filepath.Join(dir, "model.safetensors")
	const epochs, batch = 3, 64
	steps := (600 + batch - 1) / batch
	r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--epochs", fmt.Sprint(epochs), "--batch", fmt.Sprint(batch),
		"--json", "--logdir", runDir, "--out", model)
	j := parseTrainJSON(t, r)

	t.Run("event file", func(t *testing.T) {
		events, err := tfevents.ReadDir(runDir)
		if err != nil {
			t.Fatal(err)
		}
		tags := tfevents.Tags(events)
		for tag, kind := range map[string]tfevents.Kind{
			"train/loss": tfevents.KindScalar, "train/epoch_loss": tfevents.KindScalar, "test/loss": tfevents.KindScalar,
			"test/accuracy": tfevents.KindScalar, "train/lr": tfevents.KindScalar, "perf/samples_per_sec": tfevents.KindScalar,
			"train/images": tfevents.KindImage, "hyperparameters": tfevents.KindText,
		} {
			if got, ok := tags[tag]; !ok || got != kind {
				t.Errorf("tag %s: kind %v (present %v), want %v; tags %v", tag, got, ok, kind, tags)
			}
		}
		if n := len(tfevents.Scalars(events, "train/loss")); n != epochs*steps {
			t.Errorf("%d train/loss values, want one per step: %d", n, epochs*steps)
		}
		for _, s := range []struct {
			tag  string
			want []float64
		}{{"train/epoch_loss", j.TrainLoss}, {"test/loss", j.TestLoss}, {"test/accuracy", j.TestAccuracy}} {
			pts := tfevents.Scalars(events, s.tag)
			if len(pts) != epochs {
				t.Errorf("%s: %d values, want %d", s.tag, len(pts), epochs)
				continue
			}
			for i, p := range pts {
				// Scalars are stored as float32.
				if p.Step != int64(i+1) || p.Value != float64(float32(s.want[i])) {
					t.Errorf("%s[%d]: step %d value %v, want step %d value %v", s.tag, i, p.Step, p.Value, i+1, float32(s.want[i]))
				}
			}
		}
		for _, p := range tfevents.Scalars(events, "perf/samples_per_sec") {
			if !(p.Value > 0) {
				t.Errorf("perf/samples_per_sec %v", p.Value)
			}
		}
		lr := tfevents.Scalars(events, "train/lr")
		if len(lr) != epochs || float32(lr[0].Value) != 0.05 || !(lr[2].Value < lr[0].Value) {
			t.Errorf("train/lr %v: want 0.05 first, then falling (cosine)", lr)
		}
		imgs := tfevents.Values(events, "train/images")
		if len(imgs) != 1 {
			t.Fatalf("%d train/images values, want 1", len(imgs))
		}
		img, err := png.Decode(strings.NewReader(string(imgs[0].Image)))
		if err != nil {
			t.Errorf("train/images is not a PNG: %v", err)
		} else if b := img.Bounds(); b.Dx() != imgs[0].Width || b.Dy() != imgs[0].Height || b.Dx() < 8*20 {
			t.Errorf("train/images is %v, the summary says %d×%d", b, imgs[0].Width, imgs[0].Height)
		}
		text := tfevents.Values(events, "hyperparameters")
		if len(text) != 1 || !strings.Contains(text[0].Text, "mlp-64-32") || !strings.Contains(text[0].Text, "| batch | 64 |") {
			t.Errorf("hyperparameters text: %+v", text)
		}
		for _, name := range []string{"curves.png", "confusion.png"} {
			decodePNG(t, filepath.Join(runDir, name))
		}
		checkGraphHistogramsHParams(t, events, epochs)
	})

	t.Run("plot", func(t *testing.T) {
		out := filepath.Join(dir, "plot.png")
		r := mustInproc(t, "plot", "--out", out, "--width", "640", "--height", "320", runDir)
		if !strings.Contains(r.stdout, "wrote "+out) {
			t.Errorf("plot does not say what it wrote: %v", r)
		}
		if b := decodePNG(t, out).Bounds(); b.Dx() != 640 || b.Dy() != 320 {
			t.Errorf("plot is %v, want 640×320", b)
		}
		empty := t.TempDir()
		if r := inproc(context.Background(), "plot", "--out", filepath.Join(dir, "none.png"), empty); r.code != 1 || !strings.Contains(r.stderr, "no event files") || !strings.Contains(r.stderr, "mnist train --logdir") {
			t.Errorf("plot of an empty directory: %v", r)
		}
	})

	t.Run("eval", func(t *testing.T) {
		r := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model, "--json")
		var ev evalReport
		if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
			t.Fatalf("eval --json: %v\n%v", err, r)
		}
		if ev.Accuracy != j.TestAccuracy[epochs-1] || ev.Loss != j.TestLoss[epochs-1] || ev.Samples != 150 {
			t.Errorf("eval: accuracy %v loss %v on %d samples; training reported accuracy %v loss %v on 150",
				ev.Accuracy, ev.Loss, ev.Samples, j.TestAccuracy[epochs-1], j.TestLoss[epochs-1])
		}
		checkConfusion(t, ev)
		train := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model, "--split", "train", "--json")
		if err := json.Unmarshal([]byte(train.stdout), &ev); err != nil || ev.Samples != 600 || ev.Split != "train" {
			t.Errorf("eval --split train: %+v (%v)", ev, err)
		}
		text := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model)
		if !strings.Contains(text.stdout, fmt.Sprintf("accuracy %.2f%%", 100*j.TestAccuracy[epochs-1])) || !strings.Contains(text.stdout, "confusion matrix") {
			t.Errorf("eval prints:\n%s", text.stdout)
		}
	})

	t.Run("predict", func(t *testing.T) {
		// Digits of the model's own data, drawn at 5× and inverted.
		var args []string
		test, err := mnist.Load(data, mnist.Test)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			path := filepath.Join(t.TempDir(), fmt.Sprintf("d%d.png", i))
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, render(test.Image(i), test.Rows, test.Cols, 5, "black on white", rand.New(rand.NewPCG(1, 1))))
			f.Close()
			args = append(args, path)
		}
		r := mustInproc(t, append([]string{"predict", "--model", model, "--json"}, args...)...)
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		n := 0
		for {
			var p prediction
			if err := dec.Decode(&p); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("predict --json: %v\n%v", err, r)
			}
			n++
			if p.Digit < 0 || p.Digit > 9 || len(p.Probabilities) != 10 || !p.Inverted || len(p.Top) != 3 {
				t.Errorf("prediction %+v", p)
			}
		}
		if n != len(args) {
			t.Errorf("%d predictions for %d images", n, len(args))
		}
		text := mustInproc(t, append([]string{"predict", "--model", model}, args[0])...)
		if !strings.HasPrefix(text.stdout, args[0]+": ") {
			t.Errorf("predict prints %q", text.stdout)
		}
	})

	t.Run("summary of the model file", func(t *testing.T) {
		r := mustInproc(t, "summary", "--model", model)
		for _, w := range []string{"[-1, 400]", "Total params: " + groupThousands(nn.MLP(20, 20, nn.DefaultHidden, 10).NumParams())} {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("summary does not say %q:\n%s", w, r.stdout)
			}
		}
	})
}

// TestShow draws digits into a PNG and as text.
func TestShow(t *testing.T) {
	data := synthetic(t, 100, 20, 28, 28, 3)
	out := filepath.Join(t.TempDir(), "digits.png")
	r := mustInproc(t, "--data-dir", data, "show", "--n", "16", "--split", "test", "--out", out)
	if !strings.Contains(r.stdout, "wrote 16 test digits to "+out) {
		t.Errorf("show --out says %q", r.stdout)
	}
	if b := decodePNG(t, out).Bounds(); b.Dx() < 4*28*2 || b.Dy() < 4*28*2 {
		t.Errorf("a 4×4 grid of 28×28 digits at 2× is only %v", b)
	}
	text := mustInproc(t, "--data-dir", data, "show", "--n", "3")
	if !strings.ContainsAny(text.stdout, "█▀▄") || len(strings.Split(text.stdout, "\n")) < 14 {
		t.Errorf("show prints no digits:\n%s", text.stdout)
	}
	if r := inproc(context.Background(), "--data-dir", data, "show", "--n", "0"); r.code != 2 {
		t.Errorf("show --n 0: %v", r)
	}
}

// TestSummary prints the tutorial's network and others.
func TestSummary(t *testing.T) {
	r := mustInproc(t, "summary")
	for _, w := range []string{"model.1 (Linear)", "[-1, 64]", "model.5 (Linear)", "Total params: 52,650"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("summary does not say %q:\n%s", w, r.stdout)
		}
	}
	wide := mustInproc(t, "summary", "--hidden", "128")
	if want := "Total params: 101,770"; !strings.Contains(wide.stdout, want) { // 784·128+128 + 128·10+10
		t.Errorf("summary --hidden 128 does not say %q:\n%s", want, wide.stdout)
	}
	dot := mustInproc(t, "summary", "--dot")
	if !strings.HasPrefix(dot.stdout, "digraph") || !strings.HasSuffix(strings.TrimSpace(dot.stdout), "}") {
		t.Errorf("summary --dot:\n%s", dot.stdout)
	}
	if r := inproc(context.Background(), "summary", "--hidden", "a,b"); r.code != 2 || !strings.Contains(r.stderr, `hidden sizes "a,b"`) {
		t.Errorf("summary --hidden a,b: %v", r)
	}
}

// groupThousands writes n with commas, as the summary does.
func groupThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// checkGraphHistogramsHParams checks the run log of the default mlp on
// 20×20 images for the Graphs, Histograms and HParams tabs.
func checkGraphHistogramsHParams(t *testing.T, events []tfevents.Event, epochs int) {
	t.Helper()
	var graphs []*tfevents.Graph
	for _, e := range events {
		if e.Graph != nil {
			graphs = append(graphs, e.Graph)
		}
	}
	if len(graphs) != 1 {
		t.Fatalf("%d graphs in the run log, want 1", len(graphs))
	}
	g := graphs[0]
	if first, last := g.Nodes[0], g.Nodes[len(g.Nodes)-1]; !reflect.DeepEqual(first.Shape, []int64{-1, 1, 20, 20}) || !reflect.DeepEqual(last.Shape, []int64{-1, 10}) {
		t.Errorf("graph input %+v output %+v, want shapes [-1 1 20 20] and [-1 10]", first, last)
	}
	for _, name := range []string{"model.1.weight", "model.1.bias", "model.3.weight", "model.5.bias"} {
		for _, tag := range []string{name, name + ".grad"} {
			hs := tfevents.Values(events, tag)
			if len(hs) != epochs {
				t.Errorf("%s: %d histograms, want one per epoch (%d)", tag, len(hs), epochs)
				continue
			}
			for i, h := range hs {
				if h.Step != int64(i+1) || h.Kind != tfevents.KindHistogram || h.Histogram.Num == 0 {
					t.Errorf("%s[%d]: step %d kind %v %+v", tag, i, h.Step, h.Kind, h.Histogram)
				}
			}
		}
	}
	if w := tfevents.Values(events, "model.1.weight"); len(w) == epochs && w[0].Histogram.Num != 64*400 {
		t.Errorf("model.1.weight histogram counts %v values, want 64×400", w[0].Histogram.Num)
	}
	start := tfevents.Values(events, tfevents.HParamsStartTag)
	end := tfevents.Values(events, tfevents.HParamsEndTag)
	exp := tfevents.Values(events, tfevents.HParamsExperimentTag)
	if len(start) != 1 || len(end) != 1 || len(exp) != 1 {
		t.Fatalf("hparams: %d experiments, %d starts, %d ends; want one each", len(exp), len(start), len(end))
	}
	hp := start[0].HParams.Start.HParams
	if hp["batch"] != 64.0 || hp["model"] != "mlp-64-32" || hp["lr"] != 0.05 {
		t.Errorf("hparams %v: want batch 64, model mlp-64-32, lr 0.05", hp)
	}
	if m := exp[0].HParams.Experiment.Metrics; !slices.Contains(m, "test/accuracy") {
		t.Errorf("hparams metrics %v lack test/accuracy", m)
	}
	if st := end[0].HParams.End.Status; st != tfevents.StatusSuccess {
		t.Errorf("session end status %v, want success", st)
	}
}
