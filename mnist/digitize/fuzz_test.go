package digitize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"strings"
	"testing"
)

// fuzzMaxPixels keeps each fuzz input cheap to decode.
const fuzzMaxPixels = 1 << 16

// FuzzDecode feeds arbitrary bytes to Decode and what it accepts to
// Digitize: no panic, errors that name the file, and an output of the
// promised shape. The seed corpus (testdata/fuzz/FuzzDecode) holds small
// PNG, JPEG (with EXIF) and GIF files and broken ones.
func FuzzDecode(f *testing.F) {
	digit := testDigit(12, 9)
	for _, format := range []string{"png", "jpeg", "gif"} {
		f.Add(encode(f, digit, format))
	}
	f.Add(exifJPEG(encode(f, digit, "jpeg"), 6, binary.LittleEndian))
	f.Add(pngHeader(100000, 100000))
	// Issue 16's bombs: a PNG header declaring 1×4,000,000 or 8192×8192
	// pixels, and a real strip of 1×60,000 with a stroke along it.
	f.Add(pngHeader(1, 4_000_000))
	f.Add(pngHeader(8192, 8192))
	strip := image.NewGray(image.Rect(0, 0, 1, 60_000))
	for y := 20_000; y < 40_000; y++ {
		strip.Pix[y] = 255
	}
	f.Add(encode(f, strip, "png"))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, format, err := Decode(bytes.NewReader(data), "fuzz", fuzzMaxPixels)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		b := img.Bounds()
		if format != "png" && format != "jpeg" && format != "gif" || b.Empty() || b.Dx()*b.Dy() > fuzzMaxPixels {
			t.Fatalf("accepted a %q image of %v", format, b)
		}
		checkDigitize(t, img, Options{})
	})
}

// FuzzDigitize feeds arbitrary pixels (grey and alpha) and options.
func FuzzDigitize(f *testing.F) {
	f.Add(uint8(28), uint8(28), []byte{0, 0, 255, 255, 128, 255}, uint8(0), uint8(20))
	f.Add(uint8(3), uint8(60), []byte{255, 255, 0, 255, 255, 255}, uint8(1), uint8(0))
	f.Add(uint8(1), uint8(1), []byte{7, 7}, uint8(2), uint8(27))
	f.Fuzz(func(t *testing.T, w, h uint8, pix []byte, ink, box uint8) {
		if w == 0 || h == 0 || len(pix) < 2 {
			return
		}
		img := image.NewNRGBA(image.Rect(0, 0, int(w), int(h)))
		for i := range int(w) * int(h) {
			v, a := pix[(2*i)%len(pix)], pix[(2*i+1)%len(pix)]
			img.SetNRGBA(i%int(w), i/int(w), color.NRGBA{v, v, v, a})
		}
		checkDigitize(t, img, Options{Ink: Polarity(ink % 3), Box: 1 + int(box)%28})
	})
}

// checkDigitize runs Digitize and checks what it promises.
func checkDigitize(t *testing.T, img image.Image, opt Options) {
	t.Helper()
	res, err := Digitize(img, opt)
	if err != nil {
		if !errors.Is(err, ErrBlank) {
			t.Fatalf("Digitize: %v", err)
		}
		return
	}
	box := opt.Box
	if box == 0 {
		box = DefaultBox
	}
	sz := res.Size
	if res.Rows != 28 || res.Cols != 28 || len(res.Pixels) != 28*28 ||
		max(sz.X, sz.Y) != box || min(sz.X, sz.Y) < 1 ||
		res.Offset.X < 0 || res.Offset.Y < 0 || res.Offset.X+sz.X > 28 || res.Offset.Y+sz.Y > 28 {
		t.Fatalf("result %d×%d (%d pixels), digit %v at %v, box %d", res.Rows, res.Cols, len(res.Pixels), sz, res.Offset, box)
	}
	if !res.Crop.In(img.Bounds()) || res.Crop.Empty() {
		t.Fatalf("crop %v outside the image %v", res.Crop, img.Bounds())
	}
	if slicesMax(res.Pixels) == 0 {
		t.Fatal("a digit with no ink")
	}
}
