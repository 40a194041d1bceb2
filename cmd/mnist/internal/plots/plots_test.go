package plots

import (
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/nn/tfevents"
)

// decodePNG reads a PNG file and fails the test if it does not decode.
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

// colours counts the distinct colours of img.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
		}
	}
	return len(seen)
}

// checkPicture checks a rendered PNG's size and that it is not blank.
func checkPicture(t *testing.T, path string, w, h, minColours int) image.Image {
	t.Helper()
	img := decodePNG(t, path)
	if got := img.Bounds().Size(); got != image.Pt(w, h) {
		t.Errorf("%s: size %v, want %dx%d", filepath.Base(path), got, w, h)
	}
	if n := colours(img); n < minColours {
		t.Errorf("%s: %d distinct colours, want at least %d: blank picture?", filepath.Base(path), n, minColours)
	}
	return img
}

func epochs(vals ...float64) []Point {
	pts := make([]Point, len(vals))
	for i, v := range vals {
		pts[i] = Point{Epoch: float64(i + 1), Value: v}
	}
	return pts
}

func TestCurves(t *testing.T) {
	dir := t.TempDir()
	one := Run{TrainLoss: epochs(1.2, 0.6, 0.4), TestLoss: epochs(0.9, 0.5, 0.45), TestAccuracy: epochs(0.81, 0.9, 0.93)}
	tests := []struct {
		name string
		runs []Run
		w, h int
	}{
		{"one run", []Run{one}, 0, 0},
		{"three runs", []Run{
			{Name: "sgd", TrainLoss: one.TrainLoss, TestLoss: one.TestLoss, TestAccuracy: one.TestAccuracy},
			{Name: "adam", TrainLoss: epochs(0.8, 0.3), TestLoss: epochs(0.6, 0.35), TestAccuracy: epochs(0.9, 0.96)},
			{Name: "no test yet", TrainLoss: epochs(2.0)},
		}, 900, 400},
		{"percent accuracy and a diverged loss", []Run{{TrainLoss: epochs(1, math.NaN(), math.Inf(1)), TestAccuracy: epochs(80, 95)}}, 640, 320},
		{"one epoch", []Run{{TrainLoss: epochs(0.5), TestLoss: epochs(0.4), TestAccuracy: epochs(0.9)}}, 300, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".png")
			if err := Curves(path, tt.runs, tt.w, tt.h); err != nil {
				t.Fatal(err)
			}
			w, h := orDefault(tt.w, CurvesWidth), orDefault(tt.h, CurvesHeight)
			checkPicture(t, path, w, h, 8)
		})
	}
}

func TestCurvesFormats(t *testing.T) {
	dir := t.TempDir()
	run := []Run{{TrainLoss: epochs(1, 0.5), TestLoss: epochs(0.8, 0.6)}}
	magic := map[string]string{".svg": "<?xml", ".pdf": "%PDF", ".jpg": "\xff\xd8\xff"}
	for ext, want := range magic {
		path := filepath.Join(dir, "curves"+ext)
		if err := Curves(path, run, 400, 300); err != nil {
			t.Fatalf("%s: %v", ext, err)
		}
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasPrefix(string(b), want) {
			t.Errorf("%s: file starts %q, want %q (err %v)", ext, b[:min(len(b), 8)], want, err)
		}
	}
}

func TestCurvesErrors(t *testing.T) {
	dir := t.TempDir()
	good := []Run{{TrainLoss: epochs(1)}}
	tests := []struct {
		name, path string
		runs       []Run
		w, h       int
		want       string
	}{
		{"no runs", "a.png", nil, 0, 0, "no finite"},
		{"empty runs", "a.png", []Run{{Name: "x"}, {TrainLoss: epochs(math.NaN())}}, 0, 0, "no finite"},
		{"bad format", "a.gif", good, 0, 0, `unknown picture format ".gif"`},
		{"negative size", "a.png", good, -1, 10, "must be positive"},
		{"missing directory", "missing/a.png", good, 0, 0, "missing"},
	}
	for _, tt := range tests {
		err := Curves(filepath.Join(dir, tt.path), tt.runs, tt.w, tt.h)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed renders left files behind: %v", entries)
	}
}

func TestConfusion(t *testing.T) {
	dir := t.TempDir()
	m := make([][]int, 10)
	for i := range m {
		m[i] = make([]int, 10)
		m[i][i] = 950 + i
		m[i][(i+3)%10] = i * 2
	}
	path := filepath.Join(dir, "confusion.png")
	if err := Confusion(path, m, nil); err != nil {
		t.Fatal(err)
	}
	img := checkPicture(t, path, ConfusionWidth, ConfusionHeight, 6)

	// The heat map is dark where counts are high: find the darkest and the
	// lightest blue and check both occur.
	var dark, light bool
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if bl>>8 > 80 && r>>8 < 30 && g>>8 < 70 {
				dark = true // Blues' darkest: #08306b
			}
			if r>>8 == 0xf7 && g>>8 == 0xfb && bl>>8 == 0xff {
				light = true // Blues' lightest: #f7fbff
			}
		}
	}
	if !dark || !light {
		t.Errorf("heat map colours: dark %v, light %v; want both", dark, light)
	}

	small := filepath.Join(dir, "small.png")
	if err := Confusion(small, [][]int{{3, 1}, {0, 4}}, []string{"cat", "dog"}); err != nil {
		t.Fatal(err)
	}
	checkPicture(t, small, ConfusionWidth, ConfusionHeight, 6)
	zero := filepath.Join(dir, "zero.png")
	if err := Confusion(zero, [][]int{{0}}, nil); err != nil {
		t.Errorf("Confusion of a zero matrix: %v", err)
	} else {
		checkPicture(t, zero, ConfusionWidth, ConfusionHeight, 2)
	}
}

func TestConfusionErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		matrix [][]int
		labels []string
		want   string
	}{
		{"empty", nil, nil, "empty matrix"},
		{"not square", [][]int{{1, 2}, {3}}, nil, "row 1 has 1 columns, want 2"},
		{"negative", [][]int{{1, -2}, {3, 4}}, nil, "negative count -2 at true 0, predicted 1"},
		{"labels", [][]int{{1, 2}, {3, 4}}, []string{"a"}, "1 class labels for a 2x2 matrix"},
	}
	for _, tt := range tests {
		err := Confusion(filepath.Join(dir, "c.png"), tt.matrix, tt.labels)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func TestRunFromEvents(t *testing.T) {
	dir := t.TempDir()
	w, err := tfevents.NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for step := int64(1); step <= 20; step++ {
		w.Scalar("train/loss", step, 3/float64(step)) // per step: not a curve here
	}
	for epoch := int64(1); epoch <= 3; epoch++ {
		w.Scalar(TagTrainLoss, epoch, 1/float64(epoch))
		w.Scalar(TagTestLoss, epoch, 1.5/float64(epoch))
		w.Scalar(TagTestAccuracy, epoch, 0.25*float64(epoch))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	run, err := RunFromDir(dir + "/")
	if err != nil {
		t.Fatal(err)
	}
	if run.Name != filepath.Base(dir) {
		t.Errorf("name %q, want %q", run.Name, filepath.Base(dir))
	}
	want := Run{Name: run.Name,
		TrainLoss:    []Point{{1, 1}, {2, 0.5}, {3, float64(float32(1.0 / 3))}},
		TestLoss:     []Point{{1, 1.5}, {2, 0.75}, {3, 0.5}},
		TestAccuracy: []Point{{1, 0.25}, {2, 0.5}, {3, 0.75}},
	}
	if !equalRuns(run, want) {
		t.Errorf("run = %+v\nwant %+v", run, want)
	}
	if _, err := RunFromDir(t.TempDir()); err == nil {
		t.Error("a directory without event files gave no error")
	}
}

func equalRuns(a, b Run) bool {
	eq := func(x, y []Point) bool {
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
		return true
	}
	return a.Name == b.Name && eq(a.TrainLoss, b.TrainLoss) && eq(a.TestLoss, b.TestLoss) && eq(a.TestAccuracy, b.TestAccuracy)
}
