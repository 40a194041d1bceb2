package digitize

import (
	"fmt"
	"image"
	"io"
	"math"
)

// FromPixels makes a grey image from w×h numbers in row-major order, as a web
// page's drawing canvas sends them (784 for 28×28), for Digitize. The scale
// is detected: values all within 0..1 are fractions of white, otherwise
// they are 0..255. Which way round ink and paper are is left to Digitize.
// NaN, infinities, negative values and values above 255 are errors.
func FromPixels(v []float64, w, h int) (*image.Gray, error) {
	if w < 1 || h < 1 || w > 1<<14 || h > 1<<14 {
		return nil, fmt.Errorf("pixels: %d×%d is not an image size: want 1 to 16384 a side", w, h)
	}
	if len(v) != w*h {
		return nil, fmt.Errorf("pixels: got %d values for a %d×%d image, want %d", len(v), w, h, w*h)
	}
	peak := 0.0
	for i, x := range v {
		if math.IsNaN(x) || x < 0 || x > 255 {
			return nil, fmt.Errorf("pixels: value %d (row %d, column %d) is %v: want 0 to 1, or 0 to 255", i, i/w, i%w, x)
		}
		peak = max(peak, x)
	}
	gain := 1.0
	if peak <= 1 {
		gain = 255
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i, x := range v {
		img.Pix[i] = uint8(math.Round(x * gain))
	}
	return img, nil
}

// Read decodes an image file (see Decode) and digitizes it (see Digitize),
// naming the file in every error: what `mnist predict` does per argument.
func Read(r io.Reader, name string, maxPixels int, opt Options) (Result, error) {
	img, _, err := Decode(r, name, maxPixels)
	if err != nil {
		return Result{}, err
	}
	res, err := Digitize(img, opt)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", name, err)
	}
	return res, nil
}
