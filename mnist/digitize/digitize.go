// Package digitize turns a photo, scan or drawing of one handwritten digit
// into the input an MNIST model expects: Rows×Cols (28×28) uint8 pixels, the
// ink bright on black, made the way MNIST itself was made, so that `mnist
// predict` and the `mnist serve` page see what the model was trained on.
//
// MNIST's recipe, which Digitize follows: grey levels; the ink bright and the
// background 0; cropped to the ink; scaled with anti-aliasing so that the
// longer side is 20 pixels, keeping the aspect ratio; placed in 28×28 so that
// the centre of mass of the pixel intensities is at the centre. Decode reads
// PNG, JPEG and GIF files with limits suited to files from strangers.
package digitize

import (
	"errors"
	"fmt"
	"image"
	"math"
)

// ErrBlank is returned (wrapped) for an image with no ink: every pixel is
// within the noise or Options.MinContrast of the paper.
var ErrBlank = errors.New("no ink found: the image is blank")

// Result is the digitized digit and how it was made, for a page that shows
// the model's view of an upload and for diagnosing a surprising prediction.
type Result struct {
	// Pixels is the Rows×Cols image the model sees, row-major, 0 for
	// background up to 255 for full ink: the layout of mnist.Dataset.Images.
	Pixels []uint8 `json:"pixels"`
	Rows   int     `json:"rows"`
	Cols   int     `json:"cols"`
	// Inverted reports that the input was dark ink on light paper.
	Inverted bool `json:"inverted"`
	// Paper is the background's grey level in the input at its centre, 0
	// black to 1 white (the paper is fitted as a plane to the border, so that
	// uneven light is not ink); Contrast is how far the ink's strong pixels
	// lay from it (before the contrast stretch made them 255).
	Paper    float64 `json:"paper"`
	Contrast float64 `json:"contrast"`
	// Crop is the ink's bounding box in the input image's coordinates.
	Crop image.Rectangle `json:"crop"`
	// Scale is output pixels per input pixel; Size is the scaled digit's
	// width and height, the longer of them Options.Box.
	Scale float64     `json:"scale"`
	Size  image.Point `json:"size"`
	// Offset is where the scaled digit's top-left corner was placed in the
	// output, chosen to put its centre of mass at the centre.
	Offset image.Point `json:"offset"`
	// MassX and MassY are the centre of mass of Pixels in pixel indices:
	// within half a pixel of (Cols/2, Rows/2), as in MNIST, unless the
	// digit's shape forced it off (it is never moved outside the image).
	MassX float64 `json:"mass_x"`
	MassY float64 `json:"mass_y"`
}

// Image returns Pixels as an image, for showing or saving as PNG.
func (r Result) Image() *image.Gray {
	return &image.Gray{Pix: r.Pixels, Stride: r.Cols, Rect: image.Rect(0, 0, r.Cols, r.Rows)}
}

// strongQuantile picks the ink's "strong" level among its pixels: the level
// that the contrast stretch maps to full ink. A high quantile rather than
// the maximum, so that a speck of glare or dust does not set the scale; in
// MNIST more than 5% of the ink is 250 or brighter in 99% of digits, so the
// stretch leaves MNIST itself alone.
const strongQuantile = 0.95

// maxDigitizePixels bounds the images Digitize accepts, and maxWorkPixels
// the planes it works on: larger images are shrunk to at most that while
// they are converted (two float32 planes: 32 MB).
const (
	maxDigitizePixels = 100_000_000
	maxWorkPixels     = 4_000_000
)

// Digitize makes the MNIST-style input from img; see the package comment for
// the steps. Transparent pixels are paper (canvas drawings, PNG with alpha).
// It fails with ErrBlank for an image with no ink and for bad options.
func Digitize(img image.Image, opt Options) (Result, error) {
	opt, err := opt.resolve()
	if err != nil {
		return Result{}, err
	}
	if img == nil || img.Bounds().Empty() {
		return Result{}, fmt.Errorf("digitize: the image has no pixels")
	}
	if b := img.Bounds(); int64(b.Dx())*int64(b.Dy()) > maxDigitizePixels {
		return Result{}, fmt.Errorf("digitize: %d×%d pixels is more than the %s Digitize works on: scale it down", b.Dx(), b.Dy(), pixelCount(maxDigitizePixels))
	}
	// A photo larger than maxWorkPixels is shrunk by a whole factor while it
	// is converted: the digit ends up 20 pixels tall either way, and the
	// planes stay a few tens of MB.
	b := img.Bounds()
	k := 1
	for int64((b.Dx()+k-1)/k)*int64((b.Dy()+k-1)/k) > maxWorkPixels {
		k++
	}
	lum, alpha, w, h := greyAlphaReduced(img, k)
	g := lum
	if alpha != nil {
		p := paperUnderAlpha(lum, alpha, w, h, opt.Ink)
		for i, a := range alpha {
			g[i] = lum[i] + p*(1-a)
		}
	}
	// Replace each pixel by its deviation from the paper, towards the ink.
	// Deviations within 4σ of the paper are paper, and are subtracted from
	// the ink (soft thresholding: no step at the floor). Ink must stand out by
	// 5σ, which noise alone does about once in 3 million pixels, so that a
	// photo of a blank sheet is blank.
	paper := fitPaper(g, w, h)
	floor := 4 * paper.noise
	cut := max(5*paper.noise, float32(opt.MinContrast))
	bright := inkIsBright(paper.subtract(g, w, h, floor))
	if opt.Ink != Auto {
		bright = opt.Ink == InkBright
	}
	var hist histogram
	for i, d := range g {
		if !bright {
			d = -d
		}
		if d > cut {
			hist.add(d)
		}
		g[i] = max(0, d-floor)
	}
	contrast := hist.quantile(strongQuantile)
	if contrast == 0 {
		return Result{}, ErrBlank
	}
	unit := contrast - floor // full ink, after the floor; contrast > cut > floor
	crop := image.Rectangle{Min: image.Point{w, h}}
	thr := float32(opt.Threshold)
	for y := range h {
		row := g[y*w : (y+1)*w]
		for x, d := range row {
			v := min(1, d/unit)
			row[x] = v
			if v > thr {
				crop.Min.X, crop.Max.X = min(crop.Min.X, x), max(crop.Max.X, x+1)
				crop.Min.Y, crop.Max.Y = min(crop.Min.Y, y), max(crop.Max.Y, y+1)
			}
		}
	}
	if crop.Empty() { // cannot happen with Threshold < 1, but an error beats a panic
		return Result{}, ErrBlank
	}

	// Scale so that the crop's longer side is Box, centred in the short
	// direction. The crop sets the scale only: the faint pixels around it
	// are resampled too, into a canvas with room to move the box anywhere
	// in the output, so that the centre of mass counts every pixel, as in
	// MNIST. Then stretch again: shrinking thins a fine pen stroke.
	cw, ch := crop.Dx(), crop.Dy()
	scale := float64(opt.Box) / float64(max(cw, ch))
	ow := max(1, min(opt.Box, int(math.Round(float64(cw)*scale))))
	oh := max(1, min(opt.Box, int(math.Round(float64(ch)*scale))))
	mx, my := opt.Cols-ow, opt.Rows-oh // the box's place in the canvas
	x0 := float64(crop.Min.X) + float64(cw)/2 - float64(ow)/(2*scale) - float64(mx)/scale
	y0 := float64(crop.Min.Y) + float64(ch)/2 - float64(oh)/(2*scale) - float64(my)/scale
	canvasW, canvasH := ow+2*mx, oh+2*my
	canvas := stretch(resample(g, w, axisTaps(canvasW, w, x0, scale), axisTaps(canvasH, h, y0, scale)))

	res := Result{
		Rows: opt.Rows, Cols: opt.Cols, Inverted: !bright,
		Paper: paper.level, Contrast: float64(contrast),
		Crop:  image.Rectangle{crop.Min.Mul(k), crop.Max.Mul(k)}.Intersect(image.Rect(0, 0, b.Dx(), b.Dy())).Add(b.Min),
		Scale: scale / float64(k), Size: image.Point{ow, oh},
	}
	if err := res.place(canvas, canvasW, canvasH, mx, my); err != nil {
		return Result{}, err
	}
	return res, nil
}

// stretch quantises v to 0..255 after scaling it so that its strong pixels
// (strongQuantile of the non-zero ones) reach full ink.
func stretch(v []float32) []uint8 {
	var hist histogram
	for _, x := range v {
		if x > 0 {
			hist.add(x)
		}
	}
	gain := float32(1)
	if s := hist.quantile(strongQuantile); s > 0 && s < 1 {
		gain = 1 / s
	}
	out := make([]uint8, len(v))
	for i, x := range v {
		out[i] = uint8(min(255, max(0, x*gain*255+0.5)))
	}
	return out
}

// place cuts the Rows×Cols output from the canvas (the scaled box at mx, my,
// with room of mx, my around it) so that the centre of mass is at pixel
// (Cols/2, Rows/2) within half a pixel (as in MNIST: ties go to the lower
// index), but moves the window where that would cut the box.
func (r *Result) place(canvas []uint8, cw, ch, mx, my int) error {
	var sum, sx, sy int64
	for y := range ch {
		for x, v := range canvas[y*cw : (y+1)*cw] {
			sum += int64(v)
			sx += int64(v) * int64(x)
			sy += int64(v) * int64(y)
		}
	}
	if sum == 0 {
		return ErrBlank
	}
	// The window's origin o puts the mass m−o in [c−½, c+½): o = −⌈c − ½ − m⌉.
	ox := -ceilDiv(int64(2*(r.Cols/2)-1)*sum-2*sx, 2*sum)
	oy := -ceilDiv(int64(2*(r.Rows/2)-1)*sum-2*sy, 2*sum)
	ox = max(0, min(ox, int64(mx)))
	oy = max(0, min(oy, int64(my)))
	r.Offset = image.Point{mx - int(ox), my - int(oy)}
	r.Pixels = make([]uint8, r.Rows*r.Cols)
	var s, tx, ty int64
	for y := range r.Rows {
		row := r.Pixels[y*r.Cols : (y+1)*r.Cols]
		copy(row, canvas[(y+int(oy))*cw+int(ox):])
		for x, v := range row {
			s += int64(v)
			tx += int64(v) * int64(x)
			ty += int64(v) * int64(y)
		}
	}
	r.MassX, r.MassY = float64(tx)/float64(max(s, 1)), float64(ty)/float64(max(s, 1))
	return nil
}

// ceilDiv returns ⌈a/b⌉ for b > 0.
func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a > 0 {
		q++
	}
	return q
}

// paperUnderAlpha chooses the level that transparent pixels take: the
// opaque border's level where the border is mostly opaque (a photo with a
// few clear pixels), else the opposite of the ink, which is then what is
// opaque (a stroke drawn on a clear canvas): white under dark strokes.
func paperUnderAlpha(lum, alpha []float32, w, h int, ink Polarity) float32 {
	var border histogram
	n := 0
	ring(w, h, ringWidth(w, h), func(i int) {
		n++
		if alpha[i] >= 0.5 {
			border.add(lum[i] / alpha[i])
		}
	})
	if 2*border.total >= n {
		return border.quantile(0.5) - 0.5/histBins
	}
	switch ink {
	case InkDark:
		return 1
	case InkBright:
		return 0
	}
	var sl, sa float64
	for i, a := range alpha {
		sl += float64(lum[i])
		sa += float64(a)
	}
	if sa > 0 && sl/sa < 0.5 {
		return 1
	}
	return 0
}

// inkIsBright decides the polarity from the sums of squared deviations
// beyond the noise floor above and below the paper: ink is the strong
// deviation; what is left of uneven light and paper texture is weak and
// two-sided.
func inkIsBright(up, down float64) bool { return up >= down }
