package digitize

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/image/bmp" // registers BMP, to check that Decode still refuses it
)

// testDigit is a small synthetic digit-like image: a bright ring, ink bright.
func testDigit(w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	cx, cy, r := float64(w)/2, float64(h)/2, float64(min(w, h))/3
	for y := range h {
		for x := range w {
			dx, dy := float64(x)+0.5-cx, float64(y)+0.5-cy
			if d := dx*dx + dy*dy; d < r*r && d > r*r/3 {
				img.Pix[y*w+x] = 255
			}
		}
	}
	return img
}

func encode(t testing.TB, img image.Image, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&buf, img)
	case "jpeg":
		err = jpeg.Encode(&buf, img, nil)
	case "gif":
		err = gif.Encode(&buf, img, nil)
	case "bmp":
		err = bmp.Encode(&buf, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pngChunk builds one PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// pngHeader is a PNG signature and an IHDR chunk claiming w×h grey pixels.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 0, 0, 0, 0) // 8-bit grey, deflate, no filter, no interlace
	return append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
}

// jpegHeader is a JFIF JPEG start and a baseline frame header claiming w×h
// grey pixels. (Without the JFIF marker, Go's decoder reads on to the scan to
// learn the colour transform: see TestDecodeJunkAfterHeader.)
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}
	b = append(b, 0xFF, 0xC0, 0, 11, 8)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	return append(b, 1, 1, 0x11, 0)
}

// gifHeader is a GIF header with a logical screen of w×h pixels.
func gifHeader(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0, 0, 0)
}

// endless is a reader of zeros that never ends, counting what was read.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

func TestDecodeFormats(t *testing.T) {
	digit := testDigit(30, 20)
	rgba := image.NewRGBA(digit.Rect)
	for i, p := range digit.Pix {
		rgba.Pix[4*i], rgba.Pix[4*i+1], rgba.Pix[4*i+2], rgba.Pix[4*i+3] = p, p/2, 0, 255
	}
	for _, c := range []struct {
		format string
		img    image.Image
	}{{"png", digit}, {"png", rgba}, {"jpeg", digit}, {"jpeg", rgba}, {"gif", digit}, {"gif", rgba}} {
		img, format, err := Decode(bytes.NewReader(encode(t, c.img, c.format)), "digit."+c.format, 0)
		if err != nil {
			t.Errorf("%s of %T: %v", c.format, c.img, err)
			continue
		}
		if format != c.format || img.Bounds() != digit.Rect {
			t.Errorf("%s of %T: got a %s image of %v, want %v", c.format, c.img, format, img.Bounds(), digit.Rect)
		}
		if _, err := Digitize(img, Options{}); err != nil {
			t.Errorf("%s of %T: Digitize: %v", c.format, c.img, err)
		}
	}
}

// TestDecodeRefusesBombs checks that headers claiming too many pixels are
// refused after reading little and allocating little.
func TestDecodeRefusesBombs(t *testing.T) {
	for _, c := range []struct {
		name   string
		header []byte
		want   string
	}{
		{"bomb.png", pngHeader(100000, 100000), "bomb.png: 100000×100000 pixels is more than the 16 megapixel limit: scale it down"},
		{"bomb.jpg", jpegHeader(65535, 65535), "bomb.jpg: 65535×65535 pixels is more than the 16 megapixel limit: scale it down"},
		{"bomb.gif", gifHeader(65535, 65535), "bomb.gif: 65535×65535 pixels is more than the 16 megapixel limit: scale it down"},
		{"wide.png", pngHeader(1<<31-1, 1), "wide.png: 2147483647×1 pixels is more than the 16 megapixel limit"},
		{"empty.gif", gifHeader(0, 0), "empty.gif: the GIF header says 0×0 pixels: the image is empty or the file is damaged"},
		{"zero.png", pngHeader(0, 10), "zero.png: damaged image header: png: invalid format: non-positive dimension"},
	} {
		rest := &endless{}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, _, err := Decode(io.MultiReader(bytes.NewReader(c.header), rest), c.name, 0)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want one containing %q", c.name, err, c.want)
		}
		if rest.n > 64<<10 {
			t.Errorf("%s: read %d bytes past the header before refusing it", c.name, rest.n)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 1<<20 {
			t.Errorf("%s: allocated %d bytes before refusing it", c.name, alloc)
		}
	}
	// A limit of our own.
	_, _, err := Decode(bytes.NewReader(encode(t, testDigit(30, 20), "png")), "x.png", 500)
	if want := "x.png: 30×20 pixels is more than the 500 pixel limit: scale it down"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// TestDecodeByteLimit feeds a small image padded with a long ancillary chunk.
func TestDecodeByteLimit(t *testing.T) {
	good := encode(t, testDigit(10, 10), "png")
	i := bytes.Index(good, []byte("IDAT")) - 4 // the IDAT chunk's start
	padded := append(append(append([]byte{}, good[:i]...), pngChunk("teXt", make([]byte, 2<<20))...), good[i:]...)
	if _, _, err := Decode(bytes.NewReader(padded), "padded.png", 0); err != nil {
		t.Fatalf("within the default limit: %v", err)
	}
	r := &countingReader{r: bytes.NewReader(padded)}
	_, _, err := Decode(r, "padded.png", 100)
	if err == nil || !strings.HasPrefix(err.Error(), "padded.png: more than 1.001 MiB read, more than an image within the pixel limit needs") {
		t.Errorf("got %v, want the byte limit", err)
	}
	if r.n > MaxBytes(100) {
		t.Errorf("read %d bytes, more than the limit of %d", r.n, MaxBytes(100))
	}
}

// TestDecodeJunkAfterHeader: a JPEG without a JFIF marker followed by
// endless junk, which Go's decoder skips while looking for its next marker.
func TestDecodeJunkAfterHeader(t *testing.T) {
	header := []byte{0xFF, 0xD8, 0xFF, 0xC0, 0, 11, 8, 0, 10, 0, 10, 1, 1, 0x11, 0}
	rest := &endless{}
	_, _, err := Decode(io.MultiReader(bytes.NewReader(header), rest), "junk.jpg", 0)
	if want := "junk.jpg: no image header in the first 4 MiB"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
	if rest.n > 5<<20 {
		t.Errorf("read %d bytes of junk", rest.n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestDecodeErrors(t *testing.T) {
	good := encode(t, testDigit(40, 40), "png")
	corrupt := append([]byte{}, good...)
	corrupt[bytes.Index(corrupt, []byte("IDAT"))+8] ^= 0xFF
	gifData := encode(t, testDigit(40, 40), "gif")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty.png", nil, "empty.png: the file is empty: not a PNG, JPEG or GIF image"},
		{"notes.txt", []byte("hello, world"), "notes.txt: not a PNG, JPEG or GIF image (it begins 68 65 6c 6c 6f 2c 20 77): convert it to PNG"},
		{"pic.webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), "pic.webp: not a PNG, JPEG or GIF image (perhaps WebP): convert it to PNG"},
		{"pic.heic", []byte("\x00\x00\x00\x18ftypheic"), "pic.heic: not a PNG, JPEG or GIF image (perhaps HEIC or AVIF)"},
		{"pic.bmp", encode(t, testDigit(8, 8), "bmp"), "pic.bmp: a bmp image, not a PNG, JPEG or GIF image: convert it to PNG"},
		{"corrupt.png", corrupt, "corrupt.png: damaged PNG image: "},
		{"cut.png", good[:len(good)/2], "cut.png: damaged or cut short PNG image (png: invalid format: not enough pixel data, at "},
		{"cut.jpg", encode(t, testDigit(40, 40), "jpeg")[:400], "cut.jpg: damaged or cut short JPEG image ("},
		{"cut.gif", gifData[:len(gifData)-20], fmt.Sprintf("cut.gif: damaged or cut short GIF image (gif: not enough image data, at %d bytes): copy or export it again", len(gifData)-20)},
		{"header.png", good[:20], "header.png: the file is cut short (20 bytes): copy or export it again"},
	} {
		_, _, err := Decode(bytes.NewReader(c.data), c.name, 0)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	// A failing reader is reported as such, not as a damaged image.
	broken := errors.New("connection reset")
	_, _, err := Decode(io.MultiReader(bytes.NewReader(good[:100]), &failing{broken}), "upload.png", 0)
	if !errors.Is(err, broken) || !strings.HasPrefix(err.Error(), "upload.png: ") {
		t.Errorf("got %v, want the reader's error with the name", err)
	}
}

type failing struct{ err error }

func (f *failing) Read([]byte) (int, error) { return 0, f.err }

// TestDecodeTruncated cuts valid files of each format everywhere: never a
// panic, and an error naming the file wherever the image is incomplete.
func TestDecodeTruncated(t *testing.T) {
	for _, format := range []string{"png", "jpeg", "gif"} {
		data := encode(t, testDigit(24, 24), format)
		for n := range len(data) {
			_, _, err := Decode(bytes.NewReader(data[:n]), "cut", 0)
			// A GIF decoder stops after the first frame and never reads the
			// trailer byte; the others need every byte of their image data.
			if err == nil && n < len(data)-1 {
				t.Errorf("%s cut to %d of %d bytes decoded without error", format, n, len(data))
			}
			if err != nil && !strings.HasPrefix(err.Error(), "cut: ") {
				t.Errorf("%s cut to %d bytes: error %q does not name the file", format, n, err)
			}
		}
	}
}

// TestOrientations checks the EXIF views against rotations and mirrors
// written here as forward maps (where each stored pixel goes).
func TestOrientations(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 5, 3))
	for i := range src.Pix {
		src.Pix[i] = uint8(10 * (i + 1))
	}
	flipH := func(m *image.Gray) *image.Gray {
		b := m.Bounds()
		out := image.NewGray(b)
		for y := range b.Dy() {
			for x := range b.Dx() {
				out.SetGray(b.Dx()-1-x, y, m.GrayAt(x, y))
			}
		}
		return out
	}
	rotCW := func(m *image.Gray) *image.Gray {
		b := m.Bounds()
		out := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
		for y := range b.Dy() {
			for x := range b.Dx() {
				out.SetGray(b.Dy()-1-y, x, m.GrayAt(x, y)) // the top row becomes the right column
			}
		}
		return out
	}
	want := map[int]*image.Gray{
		1: src,
		2: flipH(src),
		3: rotCW(rotCW(src)),
		4: flipH(rotCW(rotCW(src))),
		5: rotCW(rotCW(rotCW(flipH(src)))),
		6: rotCW(src),
		7: rotCW(flipH(src)),
		8: rotCW(rotCW(rotCW(src))),
	}
	for o := 1; o <= 8; o++ {
		v := orient(src, o)
		lum, alpha, w, h := greyAlpha(v)
		if v.Bounds() != want[o].Bounds() || w != want[o].Rect.Dx() || h != want[o].Rect.Dy() || alpha != nil {
			t.Errorf("orientation %d: bounds %v, planes %d×%d, want %v", o, v.Bounds(), w, h, want[o].Bounds())
			continue
		}
		for i, p := range want[o].Pix {
			x, y := i%w, i/w
			if got := color.GrayModel.Convert(v.At(x, y)).(color.Gray).Y; got != p {
				t.Errorf("orientation %d: At(%d, %d) = %d, want %d", o, x, y, got, p)
			}
			if got := uint8(lum[i]*255 + 0.5); got != p {
				t.Errorf("orientation %d: grey plane at (%d, %d) = %d, want %d", o, x, y, got, p)
			}
		}
	}
}

// exifJPEG inserts an EXIF block with an orientation tag after a JPEG's SOI.
func exifJPEG(data []byte, orientation uint16, bo binary.AppendByteOrder) []byte {
	tiff := []byte("MM\x00\x2a")
	if bo == binary.LittleEndian {
		tiff = []byte("II\x2a\x00")
	}
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 2) // two entries: one before the orientation
	tiff = bo.AppendUint16(tiff, 0x010F)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, "Go\x00\x00"...)
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, orientation)
	tiff = append(tiff, 0, 0, 0, 0, 0, 0)
	seg := append([]byte("Exif\x00\x00"), tiff...)
	app1 := binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(seg)+2))
	out := append([]byte{0xFF, 0xD8}, app1...)
	out = append(out, seg...)
	return append(out, data[2:]...)
}

// TestDecodeEXIF decodes a JPEG stored sideways with orientation 6 (as a
// phone held upright writes it) and checks that it comes back upright.
func TestDecodeEXIF(t *testing.T) {
	stored := image.NewGray(image.Rect(0, 0, 64, 32)) // bright left half
	for y := range 32 {
		for x := range 32 {
			stored.Pix[y*64+x] = 255
		}
	}
	plain := encode(t, stored, "jpeg")
	for _, bo := range []binary.AppendByteOrder{binary.BigEndian, binary.LittleEndian} {
		img, _, err := Decode(bytes.NewReader(exifJPEG(plain, 6, bo)), "photo.jpg", 0)
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != image.Rect(0, 0, 32, 64) {
			t.Fatalf("%v: bounds %v, want 32×64", bo, img.Bounds())
		}
		top := color.GrayModel.Convert(img.At(16, 10)).(color.Gray).Y
		bottom := color.GrayModel.Convert(img.At(16, 54)).(color.Gray).Y
		if top < 200 || bottom > 50 { // turned clockwise, the left half is on top
			t.Errorf("%v: top %d, bottom %d: want the bright half on top", bo, top, bottom)
		}
	}
	if o := exifOrientation(exifJPEG(plain, 9, binary.BigEndian)); o != 1 {
		t.Errorf("orientation 9 (invalid) read as %d, want 1", o)
	}
	if o := exifOrientation(plain); o != 1 {
		t.Errorf("no EXIF read as %d, want 1", o)
	}
}
