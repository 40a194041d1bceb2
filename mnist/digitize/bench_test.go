package digitize

import (
	"bytes"
	"image"
	"testing"
)

// photo returns a 640×480 image of a dark digit on noisy white paper in the
// type img decodes to: as a phone photo after JPEG (*image.YCbCr), or as a
// PNG screenshot (*image.NRGBA).
func photo(b *testing.B, format string) image.Image {
	b.Helper()
	digit := testDigit(300, 300)
	m := make([]float64, 640*480)
	for y := range 300 {
		for x := range 300 {
			m[(y+90)*640+x+170] = float64(digit.Pix[y*300+x]) / 255
		}
	}
	img := addNoise(paint(m, 640, 480, black, cream), 6, 1)
	if format == "nrgba" {
		return img
	}
	out, _, err := Decode(bytes.NewReader(encode(b, img, format)), "photo", 0)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkDigitize times Digitize alone (the image already decoded) on a
// photo-sized image of each common type and on an MNIST-sized one.
func BenchmarkDigitize(b *testing.B) {
	for _, c := range []struct {
		name string
		img  func(*testing.B) image.Image
	}{
		{"ycbcr-640x480", func(b *testing.B) image.Image { return photo(b, "jpeg") }},
		{"nrgba-640x480", func(b *testing.B) image.Image { return photo(b, "nrgba") }},
		{"gray-28x28", func(b *testing.B) image.Image { return testDigit(28, 28) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			img := c.img(b)
			px := img.Bounds().Dx() * img.Bounds().Dy()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := Digitize(img, Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(px)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mpixel/s")
		})
	}
}

// BenchmarkDecode times Decode of a 640×480 JPEG photo: with Digitize, what
// `mnist predict` spends on an image before the model.
func BenchmarkDecode(b *testing.B) {
	data := encode(b, photo(b, "nrgba"), "jpeg")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(bytes.NewReader(data), "photo.jpg", 0); err != nil {
			b.Fatal(err)
		}
	}
}
