package nn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"

	"github.com/mnist-go/mnist/mnist"
)

// DeviceData is a data set resident in a backend's memory as the files hold
// it (uint8 pixels and labels), from which Gather builds float32 batches: a
// training run uploads its data once and never copies a batch from the host.
type DeviceData struct {
	Source   *mnist.Dataset
	Images   Buffer // uint8, N × Pixels
	Labels   Buffer // uint8, N
	Identity Buffer // int32 0..N-1: the visiting order of an evaluation

	backend Backend
}

// Len returns the number of samples.
func (d *DeviceData) Len() int { return d.Source.Len() }

// Pixels returns the inputs of one sample.
func (d *DeviceData) Pixels() int { return d.Source.Pixels() }

// UploadData copies ds to b, or wraps its memory when b is a HostWrapper.
func UploadData(b Backend, ds *mnist.Dataset) (*DeviceData, error) {
	d := &DeviceData{Source: ds, backend: b}
	n := ds.Len()
	identity := make([]int32, n)
	for i := range identity {
		identity[i] = int32(i)
	}
	for _, u := range []struct {
		dst  *Buffer
		t    DType
		src  any
		size int
	}{
		{&d.Images, Uint8, ds.Images, len(ds.Images)},
		{&d.Labels, Uint8, ds.Labels, n},
		{&d.Identity, Int32, identity, n},
	} {
		if w, ok := b.(HostWrapper); ok {
			buf, err := w.Wrap(u.src)
			if err != nil {
				d.Close()
				return nil, fmt.Errorf("wrap %s for %s: %w", ds.Name, b.Name(), err)
			}
			*u.dst = buf
			continue
		}
		buf, err := b.Alloc(u.t, u.size)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("upload %s (%d samples) to %s: %w", ds.Name, n, b.Name(), err)
		}
		*u.dst = buf
		if err := b.Upload(buf, u.src); err != nil {
			d.Close()
			return nil, fmt.Errorf("upload %s to %s: %w", ds.Name, b.Name(), err)
		}
	}
	return d, nil
}

// Close frees the device copies.
func (d *DeviceData) Close() {
	for _, b := range []Buffer{d.Images, d.Labels, d.Identity} {
		if b != nil {
			d.backend.Free(b)
		}
	}
	d.Images, d.Labels, d.Identity = nil, nil, nil
}

// Normalization maps pixels to inputs: x = p/255, then (x - Mean)/Std when Std is not 0.
type Normalization struct {
	Mean float32 `json:"mean"`
	Std  float32 `json:"std"`
}

// Validate rejects a normalisation that would turn pixels into huge or
// non-finite inputs: Std is 0 (no normalisation) or from 0.001 to 1000, and
// Mean is finite and at most 1000 in size.
func (n Normalization) Validate() error {
	if m := float64(n.Mean); math.IsNaN(m) || math.Abs(m) > 1000 {
		return fmt.Errorf("normalisation mean %g: must be a number from -1000 to 1000", n.Mean)
	}
	if s := float64(n.Std); s != 0 && !(s >= 0.001 && s <= 1000) {
		return fmt.Errorf("normalisation std %g: must be 0 (none) or from 0.001 to 1000", n.Std)
	}
	return nil
}

// MNISTNormalization is the usual normalisation for MNIST (the training set's pixel mean and std).
var MNISTNormalization = Normalization{Mean: 0.1307, Std: 0.3081}

// ScaleShift returns scale and shift such that x = p·scale + shift, the form Gather takes.
func (n Normalization) ScaleShift() (scale, shift float32) {
	if n.Std == 0 {
		return 1.0 / 255, 0
	}
	return 1 / (255 * n.Std), -n.Mean / n.Std
}

// DataID identifies a data set's content cheaply (its shape and every label,
// hashed), so that a checkpoint can refuse to resume on other data.
func DataID(ds *mnist.Dataset) string {
	h := sha256.New()
	fmt.Fprintf(h, "%d×%d×%d\n", ds.Len(), ds.Rows, ds.Cols)
	h.Write(ds.Labels)
	return hex.EncodeToString(h.Sum(nil))[:16]
}
