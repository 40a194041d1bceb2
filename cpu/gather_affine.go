package cpu

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// gatherAffineJob resamples rows of a uint8 data set through per-row affine
// maps into a float32 batch, split by rows.
type gatherAffineJob struct {
	x             []float32
	images        []uint8
	order         []int32   // the batch's slice of the order
	affine        []float32 // the batch's slice of the maps, 6 per row
	height, width int
	scale, shift  float32
}

func (j *gatherAffineJob) chunks() (int, int) { return chunkCount(len(j.order), gatherRows), 0 }

func (j *gatherAffineJob) do(w, phase, c int) {
	lo, hi := chunkRange(c, len(j.order), gatherRows)
	pixels := j.height * j.width
	for r := lo; r < hi; r++ {
		i := int(j.order[r])
		resample(j.x[r*pixels:(r+1)*pixels], j.images[i*pixels:(i+1)*pixels], j.affine[r*nn.AffineParams:(r+1)*nn.AffineParams],
			j.height, j.width, j.scale, j.shift)
	}
}

// resample writes the height×width image img, sampled bilinearly at
// (sx, sy) = (a0·ox + a1·oy + a2, a3·ox + a4·oy + a5) for every output pixel
// (ox, oy) with zeros outside the image, into dst as v·scale + shift.
func resample(dst []float32, img []uint8, a []float32, height, width int, scale, shift float32) {
	a = a[:nn.AffineParams]
	fw, fh := float32(width), float32(height)
	pixel := func(px, py int) float32 {
		if px < 0 || px >= width || py < 0 || py >= height {
			return 0
		}
		return float32(img[py*width+px])
	}
	for oy := 0; oy < height; oy++ {
		for ox := 0; ox < width; ox++ {
			fx, fy := float32(ox), float32(oy)
			sx := a[0]*fx + a[1]*fy + a[2]
			sy := a[3]*fx + a[4]*fy + a[5]
			var v float32
			if sx > -1 && sx < fw && sy > -1 && sy < fh { // false for NaN
				x0 := float32(math.Floor(float64(sx)))
				y0 := float32(math.Floor(float64(sy)))
				tx, ty := sx-x0, sy-y0
				px, py := int(x0), int(y0)
				v = (1-ty)*((1-tx)*pixel(px, py)+tx*pixel(px+1, py)) + ty*((1-tx)*pixel(px, py+1)+tx*pixel(px+1, py+1))
			}
			dst[oy*width+ox] = v*scale + shift
		}
	}
}

// GatherAffine builds a batch like Gather with every image resampled
// through its affine map (see nn.Backend.GatherAffine).
func (b *Backend) GatherAffine(x, y, images, labels, order, affine nn.Buffer, start, rows, height, width int, scale, shift float32) {
	xs, os, imgs, as, ok := b.core.GatherAffineArgs(x, y, images, labels, order, affine, start, rows, height, width)
	if !ok {
		return
	}
	b.conv.gather = gatherAffineJob{
		x: xs, images: imgs, order: os, affine: as,
		height: height, width: width, scale: scale, shift: shift,
	}
	b.runJob(&b.conv.gather, len(xs))
}
