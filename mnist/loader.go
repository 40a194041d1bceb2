package mnist

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
)

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	BatchSize int    // samples per batch, ≥ 1
	DropLast  bool   // skip the last batch of an epoch when it is short
	Shuffle   bool   // visit samples in a seeded random order, a new one each epoch
	Seed      uint64 // shuffle seed: same seed, same order on every machine

	// Mean and Std normalise pixels after scaling to [0,1]: x = (p/255 - Mean) / Std.
	// Std 0 means no normalisation (x = p/255).
	Mean, Std float32
}

// Batch is one batch of samples, in buffers the Loader reuses: valid until the next call to Next.
type Batch struct {
	X       []float32 // Size×Pixels inputs, row-major
	Labels  []int32   // Size labels
	Indices []int32   // Size sample indices into the Dataset
	Size    int       // samples in this batch; the last batch of an epoch may be short
}

// Loader yields the batches of one Dataset, epoch after epoch. Every sample
// appears exactly once per epoch (or not at all for the dropped short batch
// with DropLast). Once warm it allocates nothing per batch.
//
// Use it like bufio.Scanner:
//
//	l.Reset(epoch)
//	for l.Next() {
//		b := l.Batch()
//		...
//	}
type Loader struct {
	data  *Dataset
	opt   LoaderOptions
	scale [256]float32 // pixel value → input value
	order []int32      // this epoch's visiting order
	next  int          // position in order of the next batch
	batch Batch
	x     []float32
	y     []int32
}

// NewLoader checks the options and prepares a loader positioned at the start of epoch 0.
//
// A batch size larger than the data set is allowed without DropLast (each
// epoch is then one short batch) and refused with it (an epoch would have no
// batches at all).
func NewLoader(d *Dataset, opt LoaderOptions) (*Loader, error) {
	if d.Len() == 0 {
		return nil, fmt.Errorf("%s holds no samples: nothing to load", d.Name)
	}
	if d.Rows < 1 || d.Cols < 1 || len(d.Images) != d.Len()*d.Pixels() {
		return nil, fmt.Errorf("%s: %d pixels for %d images of %d×%d: the data set is inconsistent", d.Name, len(d.Images), d.Len(), d.Rows, d.Cols)
	}
	if opt.BatchSize < 1 {
		return nil, fmt.Errorf("batch size %d: must be at least 1", opt.BatchSize)
	}
	if opt.DropLast && opt.BatchSize > d.Len() {
		return nil, fmt.Errorf("batch size %d is larger than %s, which holds %d samples: with drop-last every batch would be dropped",
			opt.BatchSize, d.Name, d.Len())
	}
	if math.IsNaN(float64(opt.Std)) || math.IsInf(float64(opt.Std), 0) || opt.Std < 0 {
		return nil, fmt.Errorf("normalisation std %g: must be positive (or 0 for none)", opt.Std)
	}
	if math.IsNaN(float64(opt.Mean)) || math.IsInf(float64(opt.Mean), 0) {
		return nil, fmt.Errorf("normalisation mean %g: must be a finite number", opt.Mean)
	}
	rows := min(opt.BatchSize, d.Len()) // the largest batch there can be
	l := &Loader{
		data:  d,
		opt:   opt,
		order: make([]int32, d.Len()),
		x:     make([]float32, rows*d.Pixels()),
		y:     make([]int32, rows),
	}
	l.scale = PixelTable(opt.Mean, opt.Std)
	l.Reset(0)
	return l, nil
}

// PixelTable returns the map from a uint8 pixel to the float32 input value:
// p/255, then (x-mean)/std when std is not 0.
func PixelTable(mean, std float32) [256]float32 {
	var t [256]float32
	for p := range t {
		x := float32(p) / 255
		if std != 0 {
			x = (x - mean) / std
		}
		t[p] = x
	}
	return t
}

// Steps returns the number of batches in one epoch.
func (l *Loader) Steps() int {
	n, b := l.data.Len(), l.opt.BatchSize
	if l.opt.DropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// Reset starts epoch e: it computes the epoch's order (the seeded permutation
// for e when shuffling, else 0..N-1) and rewinds to its first batch.
func (l *Loader) Reset(epoch int) {
	if l.opt.Shuffle {
		Permutation(l.order, l.opt.Seed, epoch)
	} else {
		for i := range l.order {
			l.order[i] = int32(i)
		}
	}
	l.next = 0
}

// Seek positions the loader so that the next batch is batch step (counted
// from 0) of the current epoch, as when resuming a run. A step past the end
// leaves nothing more in the epoch; a negative step means 0.
func (l *Loader) Seek(step int) {
	switch {
	case step <= 0:
		l.next = 0
	case step >= l.Steps():
		l.next = len(l.order)
	default:
		l.next = step * l.opt.BatchSize
	}
}

// Order returns this epoch's visiting order (sample indices). It aliases the
// loader's memory and changes at the next Reset.
func (l *Loader) Order() []int32 { return l.order }

// Next fills the next batch and reports whether there was one.
func (l *Loader) Next() bool {
	b := l.opt.BatchSize
	n := len(l.order) - l.next
	if n <= 0 || (n < b && l.opt.DropLast) {
		return false
	}
	size := min(n, b)
	idx := l.order[l.next : l.next+size]
	l.next += size
	px := l.data.Pixels()
	for r, i := range idx {
		src := l.data.Images[int(i)*px : (int(i)+1)*px]
		dst := l.x[r*px : (r+1)*px]
		for j, p := range src {
			dst[j] = l.scale[p]
		}
		l.y[r] = int32(l.data.Labels[i])
	}
	l.batch = Batch{X: l.x[:size*px], Labels: l.y[:size], Indices: idx, Size: size}
	return true
}

// Batch returns the batch that the last successful Next filled.
func (l *Loader) Batch() *Batch { return &l.batch }

// Permutation fills dst with a random permutation of 0..len(dst)-1 determined
// only by seed and epoch: a Fisher–Yates shuffle driven by PCG-DXSM seeded with
// (seed, epoch), with Lemire's unbiased bounded integers. Both algorithms are
// fixed here, so the order is the same on every machine and Go version.
func Permutation(dst []int32, seed uint64, epoch int) {
	for i := range dst {
		dst[i] = int32(i)
	}
	var src rand.PCG // a value, not rand.NewPCG's pointer: Reset allocates nothing
	src.Seed(seed, uint64(epoch))
	for i := len(dst) - 1; i > 0; i-- {
		j := boundedRand(&src, uint64(i+1))
		dst[i], dst[j] = dst[j], dst[i]
	}
}

// boundedRand returns a uniform integer in [0, n) by Lemire's multiply-and-reject method.
func boundedRand(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}
