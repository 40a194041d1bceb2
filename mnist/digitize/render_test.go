package digitize

import (
	"bytes"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/draw"
)

// digitGray wraps 28×28 MNIST pixels (ink bright) as an image.
func digitGray(px []uint8, rows, cols int) *image.Gray {
	return &image.Gray{Pix: px, Stride: cols, Rect: image.Rect(0, 0, cols, rows)}
}

// inkMask renders a digit (ink bright) into a w×h canvas at rect with
// golang.org/x/image/draw's Catmull-Rom filter, an implementation
// independent of ours, and returns the ink coverage per pixel in [0, 1].
func inkMask(src *image.Gray, w, h int, rect image.Rectangle) []float64 {
	dst := image.NewGray(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(dst, rect, src, src.Bounds(), draw.Src, nil)
	m := make([]float64, w*h)
	for i, p := range dst.Pix {
		m[i] = float64(p) / 255
	}
	return m
}

// paint colours a mask: paper where it is 0, ink where it is 1, mixed between.
func paint(m []float64, w, h int, ink, paper color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	mix := func(a, b uint8, t float64) uint8 { return uint8(math.Round(float64(a)*(1-t) + float64(b)*t)) }
	for i, t := range m {
		img.Pix[4*i+0] = mix(paper.R, ink.R, t)
		img.Pix[4*i+1] = mix(paper.G, ink.G, t)
		img.Pix[4*i+2] = mix(paper.B, ink.B, t)
		img.Pix[4*i+3] = 255
	}
	return img
}

// strokes draws ink of one colour whose alpha is the mask, on a clear canvas.
func strokes(m []float64, w, h int, ink color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i, t := range m {
		img.Pix[4*i+0], img.Pix[4*i+1], img.Pix[4*i+2] = ink.R, ink.G, ink.B
		img.Pix[4*i+3] = uint8(math.Round(255 * t))
	}
	return img
}

// addNoise adds Gaussian noise of σ (in 0..255 units) to every colour channel.
func addNoise(img *image.NRGBA, sigma float64, seed uint64) *image.NRGBA {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := image.NewNRGBA(img.Rect)
	copy(out.Pix, img.Pix)
	for i := range out.Pix {
		if i%4 == 3 {
			continue
		}
		v := float64(out.Pix[i]) + sigma*rng.NormFloat64()
		out.Pix[i] = uint8(math.Round(min(255, max(0, v))))
	}
	return out
}

// roundTrip encodes img in format and decodes it with Decode.
func roundTrip(t testing.TB, img image.Image, format string) image.Image {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75})
	case "gif":
		err = gif.Encode(&buf, img, &gif.Options{NumColors: 256})
	}
	if err != nil {
		t.Fatalf("encode %s: %v", format, err)
	}
	out, got, err := Decode(&buf, "test."+format, 0)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got != format {
		t.Fatalf("Decode says %q, want %q", got, format)
	}
	return out
}

// meanAbsDiff is the mean absolute difference of two equal-length images, in 0..255 units.
func meanAbsDiff(a, b []uint8) float64 {
	s := 0
	for i := range a {
		d := int(a[i]) - int(b[i])
		s += max(d, -d)
	}
	return float64(s) / float64(len(a))
}

// massCentre returns the intensity-weighted centre of a rows×cols image in pixel indices.
func massCentre(px []uint8, cols int) (x, y float64) {
	var s, sx, sy float64
	for i, v := range px {
		s += float64(v)
		sx += float64(v) * float64(i%cols)
		sy += float64(v) * float64(i/cols)
	}
	return sx / s, sy / s
}
