package digitize

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // registers GIF with image.Decode
	_ "image/jpeg" // registers JPEG
	_ "image/png"  // registers PNG
	"io"
)

// DefaultMaxPixels is the largest image (width×height) that Decode accepts
// when its caller passes 0: 16 megapixels, more than a phone photo, so that a
// file claiming 100000×100000 pixels is refused before anything is allocated.
const DefaultMaxPixels = 16_000_000

// MaxBytes returns how many bytes Decode reads at most for a pixel limit:
// 8 bytes per allowed pixel (a 16-bit RGBA PNG stored without compression)
// plus 1 MiB of headers and metadata. A longer file is refused, so that a
// stream of padding or junk cannot keep the decoder reading forever.
func MaxBytes(maxPixels int) int64 {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	return 8*int64(maxPixels) + 1<<20
}

// formats are the image formats Decode accepts (image.DecodeConfig's names).
var formats = map[string]bool{"png": true, "jpeg": true, "gif": true}

// Decode reads one PNG, JPEG or GIF image (the first frame of a GIF) from r.
// It reads the header first and refuses an image with no pixels or with more
// than maxPixels (0 means DefaultMaxPixels), so that a decompression bomb is
// refused before its pixels are allocated; it reads at most MaxBytes(maxPixels)
// bytes. A JPEG's EXIF orientation is applied, so that a phone photo comes back
// upright. Errors begin with name (the file, for messages) and say what to do.
// The string is the format: "png", "jpeg" or "gif".
func Decode(r io.Reader, name string, maxPixels int) (image.Image, string, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	lr := &limitReader{r: r, left: MaxBytes(maxPixels)}
	// The header is read through a tee so that the full decode can replay it:
	// r need not be seekable (a pipe, an HTTP body). Decoders skip junk
	// while looking for a header, so the header gets a limit of its own.
	hr := &limitReader{r: lr, left: min(maxHeaderBytes, lr.left)}
	var head bytes.Buffer
	cfg, format, err := image.DecodeConfig(io.TeeReader(hr, &head))
	if err != nil {
		return nil, "", decodeError(name, "", err, lr, hr)
	}
	if !formats[format] {
		return nil, "", fmt.Errorf("%s: a %s image, not a PNG, JPEG or GIF image: convert it to PNG", name, format)
	}
	pixels := int64(cfg.Width) * int64(cfg.Height)
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, "", fmt.Errorf("%s: the %s header says %d×%d pixels: the image is empty or the file is damaged", name, upper(format), cfg.Width, cfg.Height)
	}
	if pixels > int64(maxPixels) {
		return nil, "", fmt.Errorf("%s: %d×%d pixels is more than the %s limit: scale it down", name, cfg.Width, cfg.Height, pixelCount(maxPixels))
	}
	img, _, err := image.Decode(io.MultiReader(bytes.NewReader(head.Bytes()), lr))
	if err != nil {
		return nil, "", decodeError(name, format, err, lr, lr)
	}
	if b := img.Bounds(); b.Empty() {
		return nil, "", fmt.Errorf("%s: the %s image has no pixels (%d×%d): the file is damaged", name, upper(format), b.Dx(), b.Dy())
	}
	if format == "jpeg" {
		img = orient(img, exifOrientation(head.Bytes()))
	}
	return img, format, nil
}

// maxHeaderBytes bounds what Decode reads before it knows an image's size:
// room for an ICC profile, EXIF with a thumbnail and XMP, but not for a
// stream of junk in front of a header that a decoder would skip.
const maxHeaderBytes = 4 << 20

// decodeError turns a decoder's error into one that names the file, says
// whether a limit, an empty file, an unknown format or damage is to blame,
// and what to do about it. lr is the whole file's reader, part the reader
// of the part being decoded (the header's, or lr).
func decodeError(name, format string, err error, lr, part *limitReader) error {
	switch {
	case lr.hit:
		return fmt.Errorf("%s: more than %s read, more than an image within the pixel limit needs: scale the image down or save it compressed",
			name, byteCount(lr.read))
	case part.hit:
		return fmt.Errorf("%s: no image header in the first %s: not a PNG, JPEG or GIF image, or a damaged one", name, byteCount(part.read))
	case lr.read == 0 && (lr.err == nil || errors.Is(lr.err, io.EOF)):
		return fmt.Errorf("%s: the file is empty: not a PNG, JPEG or GIF image", name)
	case lr.err != nil && !errors.Is(lr.err, io.EOF):
		return fmt.Errorf("%s: %w", name, lr.err) // the reader failed: not the image's fault
	case errors.Is(err, image.ErrFormat):
		return fmt.Errorf("%s: not a PNG, JPEG or GIF image (%s): convert it to PNG", name, sniff(lr.first))
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		what := "file"
		if format != "" {
			what = upper(format) + " file"
		}
		return fmt.Errorf("%s: the %s is cut short (%s): copy or export it again", name, what, byteCount(lr.read))
	case format == "":
		return fmt.Errorf("%s: damaged image header: %v: export the image again", name, err)
	case lr.err != nil: // the decoder met the end of the file: it may be cut short
		return fmt.Errorf("%s: damaged or cut short %s image (%v, at %s): copy or export it again", name, upper(format), err, byteCount(lr.read))
	}
	return fmt.Errorf("%s: damaged %s image: %v: export it again", name, upper(format), err)
}

// limitReader reads at most left bytes from r and then fails with
// errTooLong; hit records that it did, so that the decoder's error (which may
// hide ours) can be replaced by one that names the real cause. It also keeps
// the first bytes, to describe a file of unknown format.
type limitReader struct {
	r     io.Reader
	left  int64
	read  int64
	hit   bool
	err   error // the first error r returned
	first []byte
}

var errTooLong = errors.New("file longer than the byte limit")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		l.hit = true
		return 0, errTooLong
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	l.read += int64(n)
	if len(l.first) < 8 {
		l.first = append(l.first, p[:min(n, 8-len(l.first))]...)
	}
	if err != nil && l.err == nil {
		l.err = err
	}
	return n, err
}

// sniff describes a file by its first bytes, for the unknown-format error.
func sniff(b []byte) string {
	for _, m := range []struct{ magic, what string }{
		{"RIFF", "perhaps WebP"},
		{"BM", "a BMP image"},
		{"II*\x00", "a TIFF image"},
		{"MM\x00*", "a TIFF image"},
		{"<", "text, perhaps SVG or HTML"},
		{"%PDF", "a PDF document"},
	} {
		if bytes.HasPrefix(b, []byte(m.magic)) {
			return m.what
		}
	}
	if len(b) >= 8 && string(b[4:8]) == "ftyp" {
		return "perhaps HEIC or AVIF"
	}
	return fmt.Sprintf("it begins % x", b)
}

func upper(format string) string {
	switch format {
	case "png":
		return "PNG"
	case "jpeg":
		return "JPEG"
	case "gif":
		return "GIF"
	}
	return format
}

// pixelCount writes a pixel limit for people: "16 megapixel" or "5000 pixel".
func pixelCount(n int) string {
	if n >= 1_000_000 && n%100_000 == 0 {
		return fmt.Sprintf("%g megapixel", float64(n)/1e6)
	}
	return fmt.Sprintf("%d pixel", n)
}

// byteCount writes a size for people: "129 MiB", "12 KiB" or "300 bytes".
func byteCount(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.4g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.4g KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
