package digitize

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"runtime"
	"testing"
)

// TestTallThinImageBoundedMemory is the decompression bomb of issue 16: a
// small PNG of 1×4,000,000 pixels made resample hold 880 MB.
func TestTallThinImageBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a 4-megapixel image")
	}
	img := image.NewGray(image.Rect(0, 0, 8, 500_000))
	for y := 100_000; y < 400_000; y++ {
		img.SetGray(3, y, color.Gray{255})
		img.SetGray(4, y, color.Gray{255})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	t.Logf("PNG of %d bytes", buf.Len())
	dec, _, err := Decode(&buf, "tall.png", 0)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Digitize(dec, Options{Ink: InkBright}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	got := after.TotalAlloc - before.TotalAlloc
	t.Logf("Digitize allocated %d MiB", got>>20)
	if got > 64<<20 { // the float planes of the image: 16 MiB a plane; the old resample held 128 MiB more
		t.Errorf("Digitize of a 8×500,000 image allocated %d MiB, want under 64 MiB", got>>20)
	}
}

// TestLargePhotoShrunkWhileConverted checks the path of images over
// maxWorkPixels: a 16-bit RGBA image of 3000×3000 (shrunk 2× while it is
// converted) digitizes like the same drawing at 1500×1500, its crop is in
// the input's coordinates, and the work allocates well under the 144 MB
// that full-size float planes of it would take.
func TestLargePhotoShrunkWhileConverted(t *testing.T) {
	draw := func(side int) image.Image {
		img := image.NewRGBA64(image.Rect(0, 0, side, side))
		for i := range img.Pix {
			img.Pix[i] = 0xff
		}
		for y := side / 4; y < 3*side/4; y++ { // a "7": a bar and a diagonal
			for x := side/2 - side/30; x < side/2+side/30; x++ {
				img.SetRGBA64(x-(y-side/4)/3, y, color.RGBA64{0, 0, 0, 0xffff})
			}
		}
		for y := side / 4; y < side/4+side/15; y++ {
			for x := side / 3; x < 2*side/3; x++ {
				img.SetRGBA64(x, y, color.RGBA64{0, 0, 0, 0xffff})
			}
		}
		return img
	}
	small, err := Digitize(draw(1500), Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := draw(3000)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	large, err := Digitize(big, Options{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("Digitize of 3000×3000 allocated %d MiB, want under 64", got>>20)
	}
	var diff int
	for i := range small.Pixels {
		d := int(small.Pixels[i]) - int(large.Pixels[i])
		diff += max(d, -d)
	}
	if mean := float64(diff) / float64(len(small.Pixels)); mean > 4 {
		t.Errorf("3000×3000 and 1500×1500 drawings differ by %.1f levels a pixel on average", mean)
	}
	if c, want := large.Crop, small.Crop; abs(c.Min.X-2*want.Min.X) > 2 || abs(c.Max.Y-2*want.Max.Y) > 2 {
		t.Errorf("crop %v of the 3000×3000 drawing, want about twice %v", c, want)
	}
	if large.Scale > small.Scale/2*1.01 || large.Scale < small.Scale/2*0.99 {
		t.Errorf("scale %g, want about half of %g", large.Scale, small.Scale)
	}
}

func abs(x int) int { return max(x, -x) }
