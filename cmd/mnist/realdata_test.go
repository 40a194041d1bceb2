package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/draw"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
)

// The accuracy floors the issues set on the real MNIST test set.
const (
	plainSGDFloor = 0.88  // one epoch of plain SGD, lr 0.05, batch 64
	defaultsFloor = 0.975 // the default recipe, within its epochs
	predictFloor  = 0.90  // re-rendered test digits read by predict
)

// realData returns the real MNIST directory, or skips the test: under
// -short (the runs on it take tens of seconds), or when the files cannot be
// had (mnisttest.RealDataDir says why).
func realData(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: training on the real MNIST takes tens of seconds")
	}
	return mnisttest.RealDataDir(t)
}

// defaultRun is one training run with the defaults on the real MNIST,
// shared by the tests that check it and use its model.
var defaultRun struct {
	once  sync.Once
	model string
	json  trainJSON
	res   result
	err   error
}

// realModel trains with the defaults on the real MNIST once per test binary
// and returns the model file and the run's JSON result.
func realModel(t *testing.T) (data, model string, res trainJSON) {
	t.Helper()
	data = realData(t)
	defaultRun.once.Do(func() {
		dir := filepath.Join(sharedDir, "real-defaults")
		if err := os.Mkdir(dir, 0o755); err != nil {
			defaultRun.err = err
			return
		}
		defaultRun.model = filepath.Join(dir, "model.safetensors")
		r := inproc(context.Background(), "--data-dir", data, "train", "--backend", "cpu", "--logdir", "none", "--json", "--out", defaultRun.model)
		defaultRun.res = r
		if r.code != 0 {
			defaultRun.err = fmt.Errorf("training with the defaults failed: %v", r)
			return
		}
		if err := json.Unmarshal([]byte(r.stdout), &defaultRun.json); err != nil {
			defaultRun.err = fmt.Errorf("no JSON result (%v): %v", err, r)
		}
	})
	if defaultRun.err != nil {
		t.Fatal(defaultRun.err)
	}
	return data, defaultRun.model, defaultRun.json
}

// TestRealMNISTPlainSGD is the issue's acceptance command: `mnist train
// --backend cpu --epochs 1 --lr 0.05 --optimizer sgd --momentum 0 --json`
// must print a test accuracy of at least 0.88.
func TestRealMNISTPlainSGD(t *testing.T) {
	data := realData(t)
	out := filepath.Join(t.TempDir(), "model.safetensors")
	r := mustInproc(t, "--data-dir", data, "train", "--backend", "cpu", "--epochs", "1", "--lr", "0.05", "--optimizer", "sgd",
		"--momentum", "0", "--json", "--logdir", "none", "--out", out)
	j := parseTrainJSON(t, r)
	t.Logf("one epoch of plain SGD: train loss %.4f, test loss %.4f, test accuracy %.4f", j.TrainLoss[0], j.TestLoss[0], j.TestAccuracy[0])
	if j.TestAccuracy[0] < plainSGDFloor {
		t.Errorf("test accuracy %.4f after one epoch of plain SGD, want at least %.2f", j.TestAccuracy[0], plainSGDFloor)
	}
}

// TestRealMNISTDefaults checks that the default recipe reaches 97.5% test
// accuracy within its epochs (the final model's accuracy is what counts).
func TestRealMNISTDefaults(t *testing.T) {
	_, _, j := realModel(t)
	t.Logf("defaults (%d epochs): test accuracy per epoch %v", j.Epochs, j.TestAccuracy)
	if last := j.TestAccuracy[len(j.TestAccuracy)-1]; last < defaultsFloor {
		t.Errorf("the defaults end at test accuracy %.4f, want at least %.3f (per epoch: %v)", last, defaultsFloor, j.TestAccuracy)
	}
}

// TestRealMNISTEval evaluates the saved model with `mnist eval --json`: the
// accuracy and loss must be exactly those the training run reported for
// its last epoch, and the confusion matrix must agree with them.
func TestRealMNISTEval(t *testing.T) {
	data, model, j := realModel(t)
	r := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model, "--json")
	var ev evalReport
	if err := json.Unmarshal([]byte(r.stdout), &ev); err != nil {
		t.Fatalf("eval --json: %v\n%v", err, r)
	}
	last := len(j.TestAccuracy) - 1
	if ev.Accuracy != j.TestAccuracy[last] || ev.Loss != j.TestLoss[last] {
		t.Errorf("eval: accuracy %v loss %v; training reported accuracy %v loss %v", ev.Accuracy, ev.Loss, j.TestAccuracy[last], j.TestLoss[last])
	}
	if ev.Samples != 10000 || ev.Split != "test" || ev.Arch != "mlp-64-32" {
		t.Errorf("eval: %d samples of split %q, architecture %q", ev.Samples, ev.Split, ev.Arch)
	}
	checkConfusion(t, ev)
}

// checkConfusion checks that an eval report's confusion matrix, accuracy
// and per-class recall agree with each other.
func checkConfusion(t *testing.T, ev evalReport) {
	t.Helper()
	total, right := 0, 0
	for k, row := range ev.Confusion {
		n := 0
		for _, v := range row {
			n += v
		}
		total += n
		right += row[k]
		if n > 0 && ev.Recall[k] != float64(row[k])/float64(n) {
			t.Errorf("class %d: recall %v, confusion row %v", k, ev.Recall[k], row)
		}
	}
	if total != ev.Samples || float64(right)/float64(total) != ev.Accuracy {
		t.Errorf("confusion matrix holds %d samples, %d right; the report says %d samples, accuracy %v", total, right, ev.Samples, ev.Accuracy)
	}
}

// TestRealMNISTPredict re-renders 51 real test digits as PNGs the way
// people photograph or draw them (3 to 6 times larger, off-centre, as light
// ink on black, black ink on white, or blue ink on cream paper) and reads
// them back with `mnist predict --json`: at least 90% must be read right,
// and the polarity of each must be recognised.
func TestRealMNISTPredict(t *testing.T) {
	data, model, _ := realModel(t)
	test, err := mnist.Load(data, mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	args := []string{"predict", "--model", model, "--json"}
	type want struct {
		label    int
		inverted bool
		style    string
	}
	wants := map[string]want{}
	for i := 0; i < 51; i++ {
		idx := i * 197 % test.Len()
		style := []string{"bright on black", "black on white", "blue on cream"}[i%3]
		img := render(test.Image(idx), test.Rows, test.Cols, 3+i%4, style, rng)
		path := filepath.Join(dir, fmt.Sprintf("digit-%02d-%d.png", i, test.Labels[idx]))
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		args = append(args, path)
		wants[path] = want{int(test.Labels[idx]), style != "bright on black", style}
	}
	r := mustInproc(t, args...)
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	right, seen := 0, 0
	perStyle := map[string][2]int{}
	for {
		var p prediction
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("predict --json: %v\n%v", err, r)
		}
		w, ok := wants[p.File]
		if !ok {
			t.Fatalf("a prediction for %q, which was not asked for", p.File)
		}
		seen++
		c := perStyle[w.style]
		c[1]++
		if p.Digit == w.label {
			right++
			c[0]++
		} else {
			t.Logf("%s (%s): read %d, top %v", filepath.Base(p.File), w.style, p.Digit, p.Top)
		}
		perStyle[w.style] = c
		if p.Inverted != w.inverted {
			t.Errorf("%s (%s): inverted %v, want %v", filepath.Base(p.File), w.style, p.Inverted, w.inverted)
		}
		var sum float64
		for _, v := range p.Probabilities {
			sum += v
		}
		if len(p.Probabilities) != 10 || sum < 0.999 || sum > 1.001 {
			t.Errorf("%s: %d probabilities summing to %v", p.File, len(p.Probabilities), sum)
		}
	}
	if seen != len(wants) {
		t.Fatalf("%d predictions for %d images\n%v", seen, len(wants), r)
	}
	acc := float64(right) / float64(seen)
	t.Logf("read %d of %d re-rendered digits right (%.1f%%); per style (right, of): %v", right, seen, 100*acc, perStyle)
	if acc < predictFloor {
		t.Errorf("predict read %.1f%% of the re-rendered test digits right, want at least %.0f%%", 100*acc, 100*predictFloor)
	}
}

// render draws a digit (bright ink on black, rows×cols) scale times larger
// at a random place on a larger sheet, in one of three styles.
func render(pixels []uint8, rows, cols, scale int, style string, rng *rand.Rand) image.Image {
	src := image.NewGray(image.Rect(0, 0, cols, rows))
	copy(src.Pix, pixels)
	w, h := cols*scale, rows*scale
	big := image.NewGray(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(big, big.Bounds(), src, src.Bounds(), draw.Src, nil)

	left, top := rng.IntN(w), rng.IntN(h)
	sheet := image.Rect(0, 0, w+left+rng.IntN(w), h+top+rng.IntN(h))
	var paper, ink color.RGBA
	switch style {
	case "bright on black":
		paper, ink = color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	case "black on white":
		paper, ink = color.RGBA{255, 255, 255, 255}, color.RGBA{0, 0, 0, 255}
	default:
		paper, ink = color.RGBA{245, 238, 220, 255}, color.RGBA{30, 50, 150, 255}
	}
	out := image.NewRGBA(sheet)
	for y := 0; y < sheet.Dy(); y++ {
		for x := 0; x < sheet.Dx(); x++ {
			a := 0.0 // ink coverage
			if x >= left && x < left+w && y >= top && y < top+h {
				a = float64(big.GrayAt(x-left, y-top).Y) / 255
			}
			mix := func(p, i uint8) uint8 { return uint8(float64(p)*(1-a) + float64(i)*a + 0.5) }
			out.SetRGBA(x, y, color.RGBA{mix(paper.R, ink.R), mix(paper.G, ink.G), mix(paper.B, ink.B), 255})
		}
	}
	return out
}
