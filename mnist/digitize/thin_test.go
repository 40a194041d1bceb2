package digitize

import (
	"image"
	"image/color"
	"testing"
)

// TestOnePixelStroke is a smaller lie of issue 16: a stroke one pixel wide
// (a thin pen, a 1-pixel brush on a large canvas) is ink, not a blank image.
func TestOnePixelStroke(t *testing.T) {
	for _, size := range []int{28, 100, 400, 1000} {
		img := image.NewGray(image.Rect(0, 0, size, size))
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		for y := size / 5; y < 4*size/5; y++ { // a "1": one pixel wide
			img.SetGray(size/2, y, color.Gray{0})
		}
		for x := size / 3; x < size/2; x++ { // and a diagonal stroke
			img.SetGray(x, size/5+(size/2-x), color.Gray{0})
		}
		res, err := Digitize(img, Options{})
		if err != nil {
			t.Errorf("%d×%d white image with a 1-pixel black stroke: %v", size, size, err)
			continue
		}
		var ink int
		for _, p := range res.Pixels {
			if p > 127 {
				ink++
			}
		}
		if ink < 10 {
			t.Errorf("%d×%d: only %d ink pixels after digitizing a 1-pixel stroke", size, size, ink)
		}
	}
}

// TestThinStrip checks images one or a few pixels wide (or high) holding a
// stroke along their length, a crop tight to a one-pixel-wide stroke: the
// paper is read from the strip's ends, not from its sides, which are all
// ink and paper alike, so the stroke is ink.
func TestThinStrip(t *testing.T) {
	for _, tc := range []struct{ w, h int }{{1, 100}, {2, 300}, {100, 1}, {300, 2}, {1, 28}} {
		img := image.NewGray(image.Rect(0, 0, tc.w, tc.h))
		long := max(tc.w, tc.h)
		for i := range img.Pix {
			img.Pix[i] = 255
		}
		for k := long / 4; k < 3*long/4; k++ { // ink over the middle half
			if tc.w < tc.h {
				img.SetGray(0, k, color.Gray{0})
			} else {
				img.SetGray(k, 0, color.Gray{0})
			}
		}
		if _, err := Digitize(img, Options{}); err != nil {
			t.Errorf("%d×%d strip with a stroke over its middle: %v", tc.w, tc.h, err)
		}
	}
}
