// Package mnisttest helps other packages' tests get data in MNIST's format:
// a small synthetic data set that a model can learn in seconds, or the real
// MNIST files when they can be found or fetched.
package mnisttest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mnist-go/mnist/mnist"
)

// Synthetic writes the four standard files (gzip-compressed) of a small
// synthetic data set into dir: nTrain training and nTest test images of
// rows×cols pixels, labels 0 to 9. The same arguments give the same data
// (bit for bit on one platform; floating point may round a rare pixel one level
// differently on another architecture). Each class has its own pattern (a blob at one of ten places on a ring
// and a stroke at a class-specific angle through it), moved by a few pixels,
// scaled and noised per sample, so that the classes are easy but not trivial
// to tell apart; about four pixels in five are 0, as in MNIST. It fails the
// test on bad arguments or when a file cannot be written.
func Synthetic(t testing.TB, dir string, nTrain, nTest, rows, cols int, seed uint64) {
	t.Helper()
	writeSynthetic(t, dir, nTrain, nTest, rows, cols, mnist.DigitClasses, 0, false, seed)
}

// SyntheticClasses is Synthetic with classes classes (2 to 256) whose labels
// are numbered from firstLabel (0, or 1 as in EMNIST Letters; the labels
// must fit a byte): the blobs sit at classes places on the ring. The first
// samples of each split are one of every class in order, so that both
// splits hold every class when they have at least classes samples.
func SyntheticClasses(t testing.TB, dir string, nTrain, nTest, rows, cols, classes, firstLabel int, seed uint64) {
	t.Helper()
	if classes < 2 || firstLabel < 0 || classes+firstLabel > 256 {
		t.Fatalf("mnisttest.SyntheticClasses: %d classes from label %d: want 2 to 256 classes whose labels fit a byte", classes, firstLabel)
		return
	}
	writeSynthetic(t, dir, nTrain, nTest, rows, cols, classes, firstLabel, true, seed)
}

func writeSynthetic(t testing.TB, dir string, nTrain, nTest, rows, cols, classes, firstLabel int, cover bool, seed uint64) {
	t.Helper()
	if nTrain < 1 || nTest < 1 || rows < 4 || cols < 4 {
		t.Fatalf("mnisttest.Synthetic: want nTrain, nTest ≥ 1 and rows, cols ≥ 4; got %d, %d, %d, %d", nTrain, nTest, rows, cols)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("mnisttest.Synthetic: %v", err)
		return
	}
	for _, split := range []struct {
		s      mnist.Split
		n      int
		stream uint64
	}{{mnist.Train, nTrain, 0}, {mnist.Test, nTest, 1}} {
		images, labels := draw(split.n, rows, cols, classes, seed, split.stream, cover)
		for i := range labels {
			labels[i] += uint8(firstLabel)
		}
		img := &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{split.n, rows, cols}, Data: images}
		lbl := &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{split.n}, Data: labels}
		if err := mnist.WriteIDXFile(filepath.Join(dir, mnist.ImageFile(split.s)), img, true); err != nil {
			t.Fatalf("mnisttest.Synthetic: %v", err)
			return
		}
		if err := mnist.WriteIDXFile(filepath.Join(dir, mnist.LabelFile(split.s)), lbl, true); err != nil {
			t.Fatalf("mnisttest.Synthetic: %v", err)
			return
		}
	}
}

// SyntheticDataset returns the training split that Synthetic writes for the
// same n, rows, cols and seed, in memory. It panics on n < 1 or rows, cols < 4.
func SyntheticDataset(n, rows, cols int, seed uint64) *mnist.Dataset {
	if n < 1 || rows < 4 || cols < 4 {
		panic(fmt.Sprintf("mnisttest.SyntheticDataset: want n ≥ 1 and rows, cols ≥ 4; got %d, %d, %d", n, rows, cols))
	}
	images, labels := generate(n, rows, cols, mnist.DigitClasses, seed, 0)
	return &mnist.Dataset{Name: "synthetic", Images: images, Labels: labels, Rows: rows, Cols: cols, Classes: mnist.DigitClasses}
}

// SyntheticClassesDataset is SyntheticDataset with classes classes (2 to
// 256) numbered from 0: the training split SyntheticClasses writes.
func SyntheticClassesDataset(n, rows, cols, classes int, seed uint64) *mnist.Dataset {
	if n < 1 || rows < 4 || cols < 4 || classes < 2 || classes > mnist.MaxClasses {
		panic(fmt.Sprintf("mnisttest.SyntheticClassesDataset: want n ≥ 1, rows, cols ≥ 4 and 2 to 256 classes; got %d, %d, %d, %d", n, rows, cols, classes))
	}
	images, labels := draw(n, rows, cols, classes, seed, 0, true)
	return &mnist.Dataset{Name: "synthetic", Images: images, Labels: labels, Rows: rows, Cols: cols, Classes: classes}
}

// generate draws n samples of classes classes from stream (0 train, 1
// test) of seed, with PCG.
func generate(n, rows, cols, classes int, seed, stream uint64) (images, labels []uint8) {
	return draw(n, rows, cols, classes, seed, stream, false)
}

// draw is generate; with cover, the first classes samples are of the
// classes in order.
func draw(n, rows, cols, classes int, seed, stream uint64, cover bool) (images, labels []uint8) {
	rng := rand.New(rand.NewPCG(seed, stream))
	size := float64(min(rows, cols))
	ring := 0.27 * size                   // radius of the ring the blobs sit on
	sigma := 0.1 * size                   // blob width
	half := 0.25 * size                   // half-length of the stroke
	width := 0.06*size + .5               // stroke half-width
	shift := int(math.Round(0.06 * size)) // jitter in pixels, each way

	images = make([]uint8, n*rows*cols)
	labels = make([]uint8, n)
	for i := range n {
		c := rng.IntN(classes)
		if cover && i < classes {
			c = i
		}
		labels[i] = uint8(c)
		theta := 2 * math.Pi * float64(c) / float64(classes)
		cy := float64(rows-1)/2 + ring*math.Sin(theta) + float64(rng.IntN(2*shift+1)-shift)
		cx := float64(cols-1)/2 + ring*math.Cos(theta) + float64(rng.IntN(2*shift+1)-shift)
		phi := math.Pi * float64(c) / float64(classes) // stroke angle, distinct per class in [0, π)
		dy, dx := math.Sin(phi), math.Cos(phi)
		gain := 0.7 + 0.3*rng.Float64()
		img := images[i*rows*cols : (i+1)*rows*cols]
		for y := range rows {
			for x := range cols {
				ry, rx := float64(y)-cy, float64(x)-cx
				v := math.Exp(-(ry*ry + rx*rx) / (2 * sigma * sigma))
				along := ry*dy + rx*dx
				across := math.Abs(ry*dx - rx*dy)
				if math.Abs(along) <= half && across <= width {
					v = max(v, 1-0.3*across/width)
				}
				if v < 0.1 {
					continue // background stays exactly 0
				}
				p := 255*gain*v + 25*rng.NormFloat64()
				img[y*cols+x] = uint8(math.Round(min(255, max(0, p))))
			}
		}
		// A few stray pixels, as scanning dust.
		for range rows * cols / 200 {
			img[rng.IntN(rows*cols)] = uint8(64 + rng.IntN(192))
		}
	}
	return images, labels
}

// RealDataDir returns a directory holding the four real MNIST files: the
// first of $MNIST_DATA, the data folder at the module root (where `make data`
// puts them) and a shared cache (os.UserCacheDir()/mnist-go-test) that holds
// them. Failing that, it fetches them into the cache through the Go module
// that ships them (mnist.GoModule; needs the go command and the module
// proxy), once per test binary. It skips the test, saying why, when the files
// cannot be had, and under -short when they would have to be fetched.
//
// Files count as MNIST's when the .gz files have MNIST's SHA-256, or the
// uncompressed files have MNIST's headers (60000 and 10000 images of 28×28).
func RealDataDir(t testing.TB) string {
	t.Helper()
	var tried []string
	if env := os.Getenv("MNIST_DATA"); env != "" {
		if err := verified(env); err == nil {
			return env
		} else {
			tried = append(tried, fmt.Sprintf("$MNIST_DATA=%s: %v", env, err))
		}
	}
	if root, err := moduleRoot(); err == nil {
		dir := filepath.Join(root, "data")
		if err := verified(dir); err == nil {
			return dir
		} else {
			tried = append(tried, fmt.Sprintf("%s: %v", dir, err))
		}
	}
	cache := cacheDir()
	if err := verified(cache); err == nil {
		return cache
	} else {
		tried = append(tried, fmt.Sprintf("%s: %v", cache, err))
	}
	if testing.Short() {
		t.Skipf("real MNIST files not found and -short forbids fetching them (set MNIST_DATA or run `make data`):\n  %s", strings.Join(tried, "\n  "))
	}
	fetchOnce.Do(func() { fetchErr = fetchInto(cache) })
	if fetchErr != nil {
		t.Skipf("real MNIST files not found and could not be fetched: %v\n  %s", fetchErr, strings.Join(tried, "\n  "))
	}
	return cache
}

var (
	fetchOnce sync.Once
	fetchErr  error

	verifiedDirs sync.Map // directory → struct{}, for directories that passed verified
)

// fetchInto gets the files into dir from the Go module only: the HTTP mirrors
// are often unreachable where tests run, and each would cost a timeout.
func fetchInto(dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	f := &mnist.Fetcher{Dir: dir, Files: mnist.StandardFiles, GoModule: mnist.GoModule}
	if _, err := f.Ensure(ctx); err != nil {
		return err
	}
	return verified(dir)
}

func cacheDir() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "mnist-go-test")
}

// moduleRoot returns the nearest directory at or above the working directory
// that holds a go.mod file.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// verified reports whether dir holds the real MNIST files (see RealDataDir).
func verified(dir string) error {
	if _, ok := verifiedDirs.Load(dir); ok {
		return nil
	}
	for _, spec := range mnist.StandardFiles {
		gz := filepath.Join(dir, spec.Name)
		sum, err := sha256File(gz)
		if err == nil {
			if sum != spec.SHA256 {
				return fmt.Errorf("%s has sha256 %s, not MNIST's %s", gz, sum, spec.SHA256)
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		raw := strings.TrimSuffix(gz, ".gz")
		if err := rawHeaderIsMNIST(raw); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%s is missing", spec.Name)
			}
			return err
		}
	}
	verifiedDirs.Store(dir, struct{}{})
	return nil
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rawHeaderIsMNIST checks the header and size of an uncompressed MNIST file.
func rawHeaderIsMNIST(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	base := filepath.Base(path)
	n := uint32(60000)
	if strings.HasPrefix(base, "t10k") {
		n = 10000
	}
	want := []uint32{0x00000803, n, 28, 28}
	if strings.Contains(base, "labels") {
		want = []uint32{0x00000801, n}
	}
	got := make([]uint32, len(want))
	if err := binary.Read(bufio.NewReader(f), binary.BigEndian, got); err != nil {
		return fmt.Errorf("%s: header: %w", path, err)
	}
	size := int64(4 * len(want))
	if len(want) == 4 {
		size += int64(n) * 28 * 28
	} else {
		size += int64(n)
	}
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("%s: header %x is not MNIST's %x", path, got, want)
		}
	}
	if st.Size() != size {
		return fmt.Errorf("%s: %d bytes, MNIST's has %d", path, st.Size(), size)
	}
	return nil
}
