package mnisttest_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
)

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, spec := range mnist.StandardFiles {
		b, err := os.ReadFile(filepath.Join(dir, spec.Name))
		if err != nil {
			t.Fatal(err)
		}
		out[spec.Name] = b
	}
	return out
}

func TestSyntheticDeterministic(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	mnisttest.Synthetic(t, a, 50, 20, 12, 10, 3)
	mnisttest.Synthetic(t, b, 50, 20, 12, 10, 3)
	mnisttest.Synthetic(t, c, 50, 20, 12, 10, 4)
	fa, fb, fc := readDir(t, a), readDir(t, b), readDir(t, c)
	for name := range fa {
		if !bytes.Equal(fa[name], fb[name]) {
			t.Errorf("%s: same arguments, different bytes", name)
		}
		if bytes.Equal(fa[name], fc[name]) {
			t.Errorf("%s: seeds 3 and 4 give the same bytes", name)
		}
	}
	train, test, err := mnist.LoadBoth(a)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 50 || test.Len() != 20 || train.Rows != 12 || train.Cols != 10 {
		t.Errorf("got %d and %d samples of %d×%d", train.Len(), test.Len(), train.Rows, train.Cols)
	}
	if bytes.Equal(train.Images[:120], test.Images[:120]) {
		t.Error("train and test start with the same image: the splits should be drawn apart")
	}
}

// The synthetic data looks like MNIST in the ways that matter to a model:
// mostly 0 pixels, every class present, and the classes learnable. Nearest
// centroid, a very weak classifier, must already do well on the test split.
func TestSyntheticLearnable(t *testing.T) {
	dir := t.TempDir()
	mnisttest.Synthetic(t, dir, 1000, 500, 28, 28, 1)
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		t.Fatal(err)
	}
	zeros := 0
	for _, p := range train.Images {
		if p == 0 {
			zeros++
		}
	}
	if frac := float64(zeros) / float64(len(train.Images)); frac < 0.7 || frac > 0.92 {
		t.Errorf("%.2f of the pixels are 0, want about 0.8 as in MNIST", frac)
	}
	s := train.Stats()
	for c, n := range s.Labels {
		if n < 60 || n > 140 {
			t.Errorf("class %d has %d of 1000 samples", c, n)
		}
	}
	px := train.Pixels()
	var centroid [mnist.DigitClasses][]float64
	for c := range centroid {
		centroid[c] = make([]float64, px)
	}
	for i := range train.Len() {
		l := train.Labels[i]
		for j, p := range train.Image(i) {
			centroid[l][j] += float64(p) / float64(s.Labels[l])
		}
	}
	right := 0
	for i := range test.Len() {
		best, bestDist := -1, 0.0
		for c := range centroid {
			d := 0.0
			for j, p := range test.Image(i) {
				x := float64(p) - centroid[c][j]
				d += x * x
			}
			if best < 0 || d < bestDist {
				best, bestDist = c, d
			}
		}
		if best == int(test.Labels[i]) {
			right++
		}
	}
	acc := float64(right) / float64(test.Len())
	t.Logf("nearest-centroid test accuracy %.3f, zero pixels %.3f, mean %.3f std %.3f", acc, float64(zeros)/float64(len(train.Images)), s.Mean, s.Std)
	if acc < 0.8 {
		t.Errorf("nearest centroid reaches only %.3f on the test split: the classes are not learnable", acc)
	}
}

func TestSyntheticDatasetMatchesFiles(t *testing.T) {
	dir := t.TempDir()
	mnisttest.Synthetic(t, dir, 30, 5, 9, 7, 8)
	train, err := mnist.Load(dir, mnist.Train)
	if err != nil {
		t.Fatal(err)
	}
	d := mnisttest.SyntheticDataset(30, 9, 7, 8)
	if !bytes.Equal(d.Images, train.Images) || !bytes.Equal(d.Labels, train.Labels) || d.Rows != 9 || d.Cols != 7 {
		t.Error("SyntheticDataset differs from the files Synthetic writes")
	}
}

// fatalRecorder is a testing.TB that records Fatalf instead of stopping.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
}

func TestSyntheticRefusesBadArguments(t *testing.T) {
	for _, args := range [][4]int{{0, 1, 28, 28}, {1, 0, 28, 28}, {1, 1, 3, 28}, {1, 1, 28, -1}} {
		dir := t.TempDir()
		rec := &fatalRecorder{TB: t}
		mnisttest.Synthetic(rec, dir, args[0], args[1], args[2], args[3], 1)
		if !strings.Contains(rec.msg, "mnisttest.Synthetic: want") {
			t.Errorf("%v: Fatalf message %q", args, rec.msg)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%v: wrote %d files", args, len(entries))
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("SyntheticDataset(0, …) did not panic")
		}
	}()
	mnisttest.SyntheticDataset(0, 28, 28, 1)
}

func TestRealDataDir(t *testing.T) {
	dir := mnisttest.RealDataDir(t)
	train, test, err := mnist.LoadBoth(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || train.Rows != 28 || train.Cols != 28 {
		t.Fatalf("%s holds %d and %d samples of %d×%d", dir, train.Len(), test.Len(), train.Rows, train.Cols)
	}

	// $MNIST_DATA wins when it holds MNIST, here uncompressed...
	raw := t.TempDir()
	for _, spec := range mnist.StandardFiles {
		x, err := mnist.ReadIDXFile(filepath.Join(dir, spec.Name))
		if err != nil {
			if x, err = mnist.ReadIDXFile(filepath.Join(dir, strings.TrimSuffix(spec.Name, ".gz"))); err != nil {
				t.Fatal(err)
			}
		}
		if err := mnist.WriteIDXFile(filepath.Join(raw, strings.TrimSuffix(spec.Name, ".gz")), x, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("MNIST_DATA", raw)
	if got := mnisttest.RealDataDir(t); got != raw {
		t.Errorf("with $MNIST_DATA=%s holding MNIST uncompressed, got %s", raw, got)
	}

	// ...and is passed over when it holds something else.
	for name, fill := range map[string]func(dir string){
		"synthetic": func(d string) { mnisttest.Synthetic(t, d, 10, 10, 28, 28, 1) },
		"truncated raw": func(d string) {
			for _, spec := range mnist.StandardFiles {
				b, _ := os.ReadFile(filepath.Join(raw, strings.TrimSuffix(spec.Name, ".gz")))
				os.WriteFile(filepath.Join(d, strings.TrimSuffix(spec.Name, ".gz")), b[:len(b)-1], 0o644)
			}
		},
		"empty": func(string) {},
	} {
		other := t.TempDir()
		fill(other)
		t.Setenv("MNIST_DATA", other)
		if got := mnisttest.RealDataDir(t); got == other {
			t.Errorf("$MNIST_DATA holding %s data was taken for MNIST", name)
		}
	}
}
