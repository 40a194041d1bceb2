package mnist_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
)

func TestFileNamesAndSplits(t *testing.T) {
	for _, c := range []struct {
		s            mnist.Split
		image, label string
	}{
		{mnist.Train, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"},
		{mnist.Test, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"},
	} {
		if got := mnist.ImageFile(c.s); got != c.image {
			t.Errorf("ImageFile(%s) = %s, want %s", c.s, got, c.image)
		}
		if got := mnist.LabelFile(c.s); got != c.label {
			t.Errorf("LabelFile(%s) = %s, want %s", c.s, got, c.label)
		}
	}
	for in, want := range map[string]mnist.Split{"train": mnist.Train, "test": mnist.Test, "t10k": mnist.Test} {
		if got, err := mnist.ParseSplit(in); err != nil || got != want {
			t.Errorf("ParseSplit(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	_, err := mnist.ParseSplit("validation")
	wantErr(t, err, `unknown split "validation"`, "train or test")
}

// A data set in MNIST's format that is not MNIST (other image size, other
// content), compressed or not, loads like MNIST.
func TestLoadOtherDataSet(t *testing.T) {
	gzDir := t.TempDir()
	mnisttest.Synthetic(t, gzDir, 300, 70, 20, 20, 11)
	train, test, err := mnist.LoadBoth(gzDir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 300 || test.Len() != 70 || train.Rows != 20 || train.Cols != 20 || test.Rows != 20 {
		t.Fatalf("loaded %d and %d samples of %d×%d", train.Len(), test.Len(), train.Rows, train.Cols)
	}
	if cap(train.Images) != 300*20*20 || len(train.Images) != 300*20*20 {
		t.Errorf("images use %d bytes of memory for %d pixels: want the size of the data", cap(train.Images), 300*20*20)
	}
	if want := filepath.Join(gzDir, "train"); train.Name != want {
		t.Errorf("Name = %q, want %q", train.Name, want)
	}
	if got := mnisttest.SyntheticDataset(300, 20, 20, 11); !bytes.Equal(got.Images, train.Images) || !bytes.Equal(got.Labels, train.Labels) {
		t.Error("SyntheticDataset differs from the training split Synthetic writes")
	}

	// The same data uncompressed; and mixed, one file of each kind.
	for _, mixed := range []bool{false, true} {
		rawDir := t.TempDir()
		for _, s := range []mnist.Split{mnist.Train, mnist.Test} {
			for i, name := range []string{mnist.ImageFile(s), mnist.LabelFile(s)} {
				x, err := mnist.ReadIDXFile(filepath.Join(gzDir, name))
				if err != nil {
					t.Fatal(err)
				}
				compress := mixed && i == 0
				if !compress {
					name = strings.TrimSuffix(name, ".gz")
				}
				if err := mnist.WriteIDXFile(filepath.Join(rawDir, name), x, compress); err != nil {
					t.Fatal(err)
				}
			}
		}
		rawTrain, rawTest, err := mnist.LoadBoth(rawDir)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(rawTrain.Images, train.Images) || !bytes.Equal(rawTrain.Labels, train.Labels) ||
			!bytes.Equal(rawTest.Images, test.Images) || !bytes.Equal(rawTest.Labels, test.Labels) {
			t.Errorf("mixed=%v: uncompressed files load differently from the .gz ones", mixed)
		}
	}
}

// The .gz file wins when both forms are there.
func TestLoadPrefersGzip(t *testing.T) {
	dir := t.TempDir()
	mnisttest.Synthetic(t, dir, 20, 10, 8, 8, 1)
	// A raw train image file that would fail: Load must not read it.
	writeFile(t, dir, "train-images-idx3-ubyte", []byte("garbage"))
	if _, err := mnist.Load(dir, mnist.Train); err != nil {
		t.Fatal(err)
	}
}

func TestStats(t *testing.T) {
	d := &mnist.Dataset{Images: []uint8{0, 255, 255, 0, 0, 255, 255, 0}, Labels: []uint8{1, 1}, Rows: 2, Cols: 2, Classes: 2}
	s := d.Stats()
	if s.Samples != 2 || s.Rows != 2 || s.Cols != 2 || !slices.Equal(s.Labels, []int{0, 2}) || s.Classes != 2 {
		t.Errorf("Stats = %+v", s)
	}
	if math.Abs(s.Mean-0.5) > 1e-12 || math.Abs(s.Std-0.5) > 1e-12 {
		t.Errorf("mean %g std %g, want 0.5 0.5", s.Mean, s.Std)
	}
	// Against a direct two-pass computation on synthetic data.
	d = mnisttest.SyntheticDataset(200, 12, 12, 7)
	s = d.Stats()
	var sum, sq float64
	for _, p := range d.Images {
		sum += float64(p) / 255
	}
	mean := sum / float64(len(d.Images))
	for _, p := range d.Images {
		sq += (float64(p)/255 - mean) * (float64(p)/255 - mean)
	}
	std := math.Sqrt(sq / float64(len(d.Images)))
	if math.Abs(s.Mean-mean) > 1e-9 || math.Abs(s.Std-std) > 1e-9 {
		t.Errorf("mean %g std %g, want %g %g", s.Mean, s.Std, mean, std)
	}
	total := 0
	for _, c := range s.Labels {
		total += c
	}
	if total != 200 {
		t.Errorf("label counts %v add up to %d, want 200", s.Labels, total)
	}
	// Empty and hand-built data sets neither panic nor give NaN.
	if s := (&mnist.Dataset{}).Stats(); s.Mean != 0 || s.Std != 0 {
		t.Errorf("empty: %+v", s)
	}
	if s := (&mnist.Dataset{Images: []uint8{1}, Labels: []uint8{200}, Rows: 1, Cols: 1, Classes: 10}).Stats(); !slices.Equal(s.Labels, make([]int, 10)) {
		t.Errorf("label 200 counted: %+v", s)
	}
}

func TestNewDatasetRefuses(t *testing.T) {
	img := images(3, 2, 2)
	lbl := labels(0, 5, 9)
	int16s := &mnist.IDX{Type: mnist.TypeInt16, Dims: []int{3, 2, 2}, Data: make([]byte, 24)}
	for _, c := range []struct {
		name     string
		img, lbl *mnist.IDX
		want     []string
	}{
		{"images int16", int16s, lbl, []string{"img.idx: images are int16, want uint8"}},
		{"images 1 dim", labels(1, 2, 3), lbl, []string{"img.idx: has 1 dimension", "swapped"}},
		{"images 2 dims", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{3, 4}, Data: make([]byte, 12)}, lbl, []string{"img.idx: images have 2 dimensions, want 3"}},
		{"images 4 dims", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{3, 2, 2, 1}, Data: make([]byte, 12)}, lbl, []string{"img.idx: images have 4 dimensions"}},
		{"zero-size images", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{3, 0, 2}, Data: nil}, lbl, []string{"img.idx: images are 0×2 pixels"}},
		{"no images", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{0, 2, 2}, Data: nil}, labels(), []string{"img.idx: holds no images"}},
		{"labels int32", img, &mnist.IDX{Type: mnist.TypeInt32, Dims: []int{3}, Data: make([]byte, 12)}, []string{"lbl.idx: labels are int32, want uint8"}},
		{"labels 3 dims (swapped)", img, img, []string{"lbl.idx: labels have 3 dimensions, want 1", "swapped"}},
		{"count mismatch", img, labels(1, 2), []string{"img.idx holds 3 images but lbl.idx holds 2 labels"}},
		{"pixels missing", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{3, 2, 2}, Data: make([]byte, 11)}, lbl, []string{"img.idx: dimensions 3×2×2 promise 12 pixels but 11 are there"}},
		{"labels missing", img, &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{3}, Data: []byte{1}}, []string{"lbl.idx: 3 labels promised but 1 are there"}},
	} {
		d, err := mnist.NewDataset(c.img, "img.idx", c.lbl, "lbl.idx")
		if d != nil {
			t.Errorf("%s: got a dataset with the error", c.name)
		}
		wantErr(t, err, c.want...)
	}
}

// Load's errors name the file at fault, read from disk.
func TestLoadRefuses(t *testing.T) {
	good := t.TempDir()
	mnisttest.Synthetic(t, good, 30, 10, 6, 6, 3)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(good, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	trainImg, trainLbl := mnist.ImageFile(mnist.Train), mnist.LabelFile(mnist.Train)
	for _, c := range []struct {
		name  string
		files map[string][]byte // written over a copy of the good directory
		bad   string            // the file the error must name
		want  string
	}{
		{"swapped", map[string][]byte{trainImg: read(trainLbl), trainLbl: read(trainImg)}, trainImg, "has 1 dimension, as a label file does"},
		{"count mismatch", map[string][]byte{trainLbl: gz(t, idxBytes(t, labels(1, 2, 3)))}, trainLbl, "holds 30 images but"},
		{"html", map[string][]byte{trainImg: []byte("<!DOCTYPE html>")}, trainImg, "bad magic number"},
		{"truncated gz", map[string][]byte{trainImg: read(trainImg)[:100]}, trainImg, "truncated gzip stream"},
		{"int8 images", map[string][]byte{trainImg: gz(t, idxBytes(t, &mnist.IDX{Type: mnist.TypeInt8, Dims: []int{30, 6, 6}, Data: make([]byte, 30*36)}))}, trainImg, "images are int8, want uint8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, spec := range mnist.StandardFiles {
				writeFile(t, dir, spec.Name, read(spec.Name))
			}
			for name, b := range c.files {
				writeFile(t, dir, name, b)
			}
			_, err := mnist.Load(dir, mnist.Train)
			wantErr(t, err, filepath.Join(dir, c.bad), c.want)
			if _, err := mnist.Load(dir, mnist.Test); err != nil {
				t.Errorf("the test split is fine but: %v", err)
			}
		})
	}

	// Missing things.
	missing := filepath.Join(t.TempDir(), "none")
	_, err := mnist.Load(missing, mnist.Train)
	wantErr(t, err, "data directory "+missing+" does not exist", "mnist data")

	file := writeFile(t, t.TempDir(), "plain", []byte("x"))
	_, err = mnist.Load(file, mnist.Train)
	wantErr(t, err, file+" is not a directory")

	partial := t.TempDir()
	writeFile(t, partial, trainImg, read(trainImg))
	_, err = mnist.Load(partial, mnist.Train)
	wantErr(t, err, filepath.Join(partial, trainLbl)+": missing (nor is train-labels-idx1-ubyte there)")

	// Two splits that do not belong together.
	mixed := t.TempDir()
	mnisttest.Synthetic(t, mixed, 20, 10, 8, 8, 1)
	other := t.TempDir()
	mnisttest.Synthetic(t, other, 20, 10, 9, 8, 1)
	for _, name := range []string{mnist.ImageFile(mnist.Test), mnist.LabelFile(mnist.Test)} {
		b, _ := os.ReadFile(filepath.Join(other, name))
		writeFile(t, mixed, name, b)
	}
	_, _, err = mnist.LoadBoth(mixed)
	wantErr(t, err, mixed, "train images are 8×8 but test images are 9×8")
}

// Any label a byte holds is a class: the count is the largest label plus
// one, the same for both splits after LoadBoth.
func TestClassesFromLabels(t *testing.T) {
	for _, c := range []struct {
		lbl  *mnist.IDX
		want int
	}{{labels(0, 5, 9), 10}, {labels(0, 10, 9), 11}, {labels(0, 1, 255), 256}, {labels(0, 0, 0), 2}, {labels(3, 1, 2), 4}} {
		d, err := mnist.NewDataset(images(3, 2, 2), "img.idx", c.lbl, "lbl.idx")
		if err != nil {
			t.Fatal(err)
		}
		if d.Classes != c.want {
			t.Errorf("labels %v: %d classes, want %d", c.lbl.Data, d.Classes, c.want)
		}
	}
	for _, k := range []int{3, 26, 47} {
		dir := t.TempDir()
		mnisttest.SyntheticClasses(t, dir, 2*k, k-1, 20, 32, k, 0, 1) // the test split lacks the last class
		train, test, err := mnist.LoadBoth(dir)
		if err != nil {
			t.Fatal(err)
		}
		if train.Classes != k || test.Classes != k || train.Rows != 20 || train.Cols != 32 {
			t.Errorf("%d classes: train %d, test %d classes of %d×%d", k, train.Classes, test.Classes, train.Rows, train.Cols)
		}
		if st := train.Stats(); len(st.Labels) != k || slices.Contains(st.Labels, 0) {
			t.Errorf("%d classes: train label counts %v, want %d non-zero counts", k, st.Labels, k)
		}
	}
}

func TestLabelBaseShift(t *testing.T) {
	dir := t.TempDir()
	mnisttest.SyntheticClasses(t, dir, 60, 30, 8, 8, 26, 1, 2) // EMNIST Letters: 1 to 26
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Classes != 27 || mnist.LabelBase(train, test) != 1 {
		t.Fatalf("before the shift: %d classes, base %d; want 27 and 1", train.Classes, mnist.LabelBase(train, test))
	}
	for _, d := range []*mnist.Dataset{train, test} {
		if err := d.ShiftLabels(1); err != nil {
			t.Fatal(err)
		}
		if d.Classes != 26 || slices.Max(d.Labels) != 25 || slices.Min(d.Labels) != 0 {
			t.Errorf("%s after the shift: %d classes, labels %d to %d", d.Name, d.Classes, slices.Min(d.Labels), slices.Max(d.Labels))
		}
	}
	if b := mnist.LabelBase(train, test); b != 0 {
		t.Errorf("base after the shift %d, want 0", b)
	}
	before := slices.Clone(train.Labels)
	wantErr(t, train.ShiftLabels(1), train.Name, "label 0 of sample 0 is below the label base 1")
	if !slices.Equal(before, train.Labels) {
		t.Error("a refused shift changed labels")
	}
	if b := mnist.LabelBase(&mnist.Dataset{}); b != 0 {
		t.Errorf("no labels: base %d", b)
	}
}
