package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Augmentation is random data augmentation for training: every training
// image of every epoch is resampled (bilinearly, by the backend's
// GatherAffine) through its own random rotation about the image centre and
// shift, drawn uniformly within these bounds. The zero value is none.
type Augmentation struct {
	Shift   float32 `json:"shift"`   // largest shift in pixels, along each axis
	Degrees float32 `json:"degrees"` // largest rotation in degrees, either way
}

// DefaultAugmentation is what --augment turns on: shifts of up to 2 pixels
// and rotations of up to 10 degrees.
var DefaultAugmentation = Augmentation{Shift: 2, Degrees: 10}

// Enabled reports whether a resamples anything.
func (a Augmentation) Enabled() bool { return a.Shift != 0 || a.Degrees != 0 }

// Validate reports bounds that make no sense.
func (a Augmentation) Validate() error {
	if !(a.Shift >= 0 && a.Shift <= 100) || !(a.Degrees >= 0 && a.Degrees <= 180) {
		return fmt.Errorf("augmentation shift %g px, rotation %g°: want a shift in [0, 100] and a rotation in [0, 180]", a.Shift, a.Degrees)
	}
	return nil
}

func (a Augmentation) String() string {
	if !a.Enabled() {
		return "none"
	}
	return fmt.Sprintf("shift ±%g px, rotation ±%g°", a.Shift, a.Degrees)
}

// Maps fills maps (AffineParams values per position, len(maps)/6
// positions) with the GatherAffine maps of one epoch of a training run on
// rows×cols images: position p's map rotates by θ about the image centre c
// and shifts by d, output pixel o sampling the input at R(−θ)·(o − c − d) + c.
// θ and d are uniform within a's bounds, drawn from a PCG stream of (seed,
// epoch) in position order, so a resumed run draws the same maps.
func (a Augmentation) Maps(maps []float32, rows, cols int, seed uint64, epoch int) {
	rng := rand.New(rand.NewPCG(seed^0x61756720, uint64(epoch))) // stream "aug "
	cx, cy := float64(cols-1)/2, float64(rows-1)/2
	shift, rad := float64(a.Shift), float64(a.Degrees)*math.Pi/180
	for p := 0; p+AffineParams <= len(maps); p += AffineParams {
		th := (2*rng.Float64() - 1) * rad
		dx := (2*rng.Float64() - 1) * shift
		dy := (2*rng.Float64() - 1) * shift
		cos, sin := math.Cos(th), math.Sin(th)
		m := maps[p : p+AffineParams]
		m[0], m[1], m[2] = float32(cos), float32(sin), float32(cx-cos*(cx+dx)-sin*(cy+dy))
		m[3], m[4], m[5] = float32(-sin), float32(cos), float32(cy+sin*(cx+dx)-cos*(cy+dy))
	}
}
