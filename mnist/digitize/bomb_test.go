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
