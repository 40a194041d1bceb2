package mnist

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
)

// Split names one half of a data set.
type Split string

// The two splits of an MNIST-format data set.
const (
	Train Split = "train"
	Test  Split = "test"
)

// ParseSplit accepts "train" or "test" (and "t10k", MNIST's file prefix for the test split).
func ParseSplit(s string) (Split, error) {
	switch s {
	case "train":
		return Train, nil
	case "test", "t10k":
		return Test, nil
	}
	return "", fmt.Errorf("unknown split %q: use train or test", s)
}

// DigitClasses is MNIST's own class count: the digits 0 to 9. Other data
// sets in the same format have other counts: see Dataset.Classes.
const DigitClasses = 10

// MaxClasses is the most classes a data set in MNIST's format can have:
// labels are bytes.
const MaxClasses = 256

// ImageFile and LabelFile return the standard file names (gzip-compressed) of a split.
func ImageFile(s Split) string { return filePrefix(s) + "-images-idx3-ubyte.gz" }

// LabelFile returns the standard label file name of a split; see ImageFile.
func LabelFile(s Split) string { return filePrefix(s) + "-labels-idx1-ubyte.gz" }

func filePrefix(s Split) string {
	if s == Test {
		return "t10k"
	}
	return "train"
}

// Dataset is one split of an MNIST-format data set held as the files hold it:
// uint8 pixels (N×Rows×Cols, row-major) and uint8 labels, so that memory stays
// about the size of the files. Conversion to float32 happens per batch.
type Dataset struct {
	Name   string  // where it came from, for messages ("data/train")
	Images []uint8 // N×Rows×Cols pixels, 0 = background
	Labels []uint8 // N labels, each < Classes
	Rows   int
	Cols   int

	// Classes is the number of classes, labels 0 to Classes-1: the
	// largest label plus one (of both splits, after LoadBoth), at least 2.
	// A split may lack some classes (a small test set, say).
	Classes int
}

// Len returns the number of samples.
func (d *Dataset) Len() int { return len(d.Labels) }

// Pixels returns the number of pixels in one image (Rows×Cols).
func (d *Dataset) Pixels() int { return d.Rows * d.Cols }

// Image returns sample i's pixels, aliasing the dataset's memory.
func (d *Dataset) Image(i int) []uint8 {
	p := d.Pixels()
	return d.Images[i*p : (i+1)*p]
}

// Load reads split s from dir: the standard file names, gzip-compressed
// (train-images-idx3-ubyte.gz) or not (train-images-idx3-ubyte). Any data set
// in MNIST's format works: uint8 images of any size, any uint8 labels.
func Load(dir string, s Split) (*Dataset, error) {
	imgPath, err := findFile(dir, ImageFile(s))
	if err != nil {
		return nil, err
	}
	lblPath, err := findFile(dir, LabelFile(s))
	if err != nil {
		return nil, err
	}
	images, err := ReadIDXFile(imgPath)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDXFile(lblPath)
	if err != nil {
		return nil, err
	}
	d, err := NewDataset(images, imgPath, labels, lblPath)
	if err != nil {
		return nil, err
	}
	d.Name = filepath.Join(dir, string(s))
	return d, nil
}

// LoadBoth loads the train and test splits of dir and checks that their
// image shapes agree. Both get the same Classes, the larger of the two.
func LoadBoth(dir string) (train, test *Dataset, err error) {
	if train, err = Load(dir, Train); err != nil {
		return nil, nil, err
	}
	if test, err = Load(dir, Test); err != nil {
		return nil, nil, err
	}
	if train.Rows != test.Rows || train.Cols != test.Cols {
		return nil, nil, fmt.Errorf("%s: train images are %d×%d but test images are %d×%d: the two splits come from different data sets",
			dir, train.Rows, train.Cols, test.Rows, test.Cols)
	}
	train.Classes = max(train.Classes, test.Classes)
	test.Classes = train.Classes
	return train, test, nil
}

// LabelBase returns the smallest label of the data sets: 1 for a data set
// numbered from 1 (EMNIST Letters: 1 to 26), 0 for MNIST. Data sets with
// no labels give 0.
func LabelBase(sets ...*Dataset) int {
	base, seen := 255, false
	for _, d := range sets {
		for _, l := range d.Labels {
			base, seen = min(base, int(l)), true
			if base == 0 {
				return 0
			}
		}
	}
	if !seen {
		return 0
	}
	return base
}

// ShiftLabels subtracts base from every label, so that a data set numbered
// from base is numbered from 0, and recomputes Classes. A label below base
// is an error that names it; nothing is changed then.
func (d *Dataset) ShiftLabels(base int) error {
	if base < 0 || base > 255 {
		return fmt.Errorf("label base %d: must be 0 to 255", base)
	}
	if base == 0 {
		return nil
	}
	for i, l := range d.Labels {
		if int(l) < base {
			return fmt.Errorf("%s: label %d of sample %d is below the label base %d: the labels are not numbered from %d", d.Name, l, i, base, base)
		}
	}
	for i := range d.Labels {
		d.Labels[i] -= uint8(base)
	}
	d.Classes = classCount(d.Labels)
	return nil
}

// classCount is the largest label plus one, at least 2 (a classifier needs
// two outputs, even when a data set holds one class).
func classCount(labels []uint8) int {
	top := 0
	for _, l := range labels {
		top = max(top, int(l))
	}
	return max(top+1, 2)
}

// findFile returns the path of name in dir, or of name without ".gz" when
// only the uncompressed file is there.
func findFile(dir, name string) (string, error) {
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("data directory %s does not exist: run `mnist data --data-dir %s` to fetch MNIST, or point --data-dir at a directory holding the four IDX files", dir, dir)
		}
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("data directory %s is not a directory: point --data-dir at a directory holding the four IDX files", dir)
	}
	gz := filepath.Join(dir, name)
	raw := gz[:len(gz)-len(".gz")]
	for _, p := range []string{gz, raw} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: missing (nor is %s there): run `mnist data --data-dir %s` to fetch MNIST", gz, filepath.Base(raw), dir)
}

// NewDataset checks that images and labels form a data set (3-D uint8 images,
// 1-D uint8 labels, equal counts) and wraps them without copying; Classes is
// the largest label plus one.
// The names are the files they came from, for messages.
func NewDataset(images *IDX, imagesName string, labels *IDX, labelsName string) (*Dataset, error) {
	if images.Type != TypeUint8 {
		return nil, formatErrorf(imagesName, "images are %s, want uint8", typeName(images.Type))
	}
	if len(images.Dims) != 3 {
		if len(images.Dims) == 1 {
			return nil, formatErrorf(imagesName, "has 1 dimension, as a label file does; want 3 (count, rows, cols): are the image and label files swapped?")
		}
		return nil, formatErrorf(imagesName, "images have %d dimensions, want 3 (count, rows, cols)", len(images.Dims))
	}
	if images.Dims[1] == 0 || images.Dims[2] == 0 {
		return nil, formatErrorf(imagesName, "images are %d×%d pixels", images.Dims[1], images.Dims[2])
	}
	if labels.Type != TypeUint8 {
		return nil, formatErrorf(labelsName, "labels are %s, want uint8", typeName(labels.Type))
	}
	if len(labels.Dims) != 1 {
		return nil, formatErrorf(labelsName, "labels have %d dimensions, want 1: are the image and label files swapped?", len(labels.Dims))
	}
	n := images.Dims[0]
	if n == 0 {
		return nil, formatErrorf(imagesName, "holds no images")
	}
	if labels.Dims[0] != n {
		return nil, fmt.Errorf("%s holds %d images but %s holds %d labels: the files do not belong together", imagesName, n, labelsName, labels.Dims[0])
	}
	if want, ok := dataBytes(images.Type, images.Dims); !ok || len(images.Data) != want {
		return nil, formatErrorf(imagesName, "dimensions %s promise %d pixels but %d are there", dimsString(images.Dims), want, len(images.Data))
	}
	if len(labels.Data) != n {
		return nil, formatErrorf(labelsName, "%d labels promised but %d are there", n, len(labels.Data))
	}
	return &Dataset{Images: images.Data, Labels: labels.Data, Rows: images.Dims[1], Cols: images.Dims[2], Classes: classCount(labels.Data)}, nil
}

// Stats summarises a data set: counts, label histogram and pixel statistics
// on the [0,1] scale that batches use.
type Stats struct {
	Samples int     `json:"samples"`
	Rows    int     `json:"rows"`
	Cols    int     `json:"cols"`
	Classes int     `json:"classes"`
	Labels  []int   `json:"label_counts"` // one count per class
	Mean    float64 `json:"pixel_mean"`
	Std     float64 `json:"pixel_std"`
}

// Stats computes the summary in one pass over the pixels. An empty data set
// has zero mean and std; labels of Classes or more (possible only in a
// Dataset built by hand, not through NewDataset) are not counted.
func (d *Dataset) Stats() Stats {
	s := Stats{Samples: d.Len(), Rows: d.Rows, Cols: d.Cols, Classes: d.Classes, Labels: make([]int, max(d.Classes, 0))}
	for _, l := range d.Labels {
		if int(l) < d.Classes {
			s.Labels[l]++
		}
	}
	if len(d.Images) == 0 {
		return s
	}
	var hist [256]int64
	for _, p := range d.Images {
		hist[p]++
	}
	var sum, sumSq float64
	for v, c := range hist {
		x := float64(v) / 255
		sum += x * float64(c)
		sumSq += x * x * float64(c)
	}
	n := float64(len(d.Images))
	s.Mean = sum / n
	s.Std = math.Sqrt(max(0, sumSq/n-s.Mean*s.Mean))
	return s
}
