// Package plots draws training pictures: loss and accuracy curves of one or
// more runs, confusion matrices, and grids of digit images.
//
// Curves and Confusion write a file whose format follows its extension
// (.png, .jpg, .svg, .pdf), atomically: a reader never sees half a picture.
// Sizes are in pixels; vector formats take them at 96 per inch.
package plots

import (
	"fmt"
	"image"
	"io"
	"path/filepath"
	"strings"

	"github.com/mnist-go/mnist/internal/atomicfile"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"
)

// dpi is the resolution at which a pixel size becomes a length.
const dpi = 96

// Limits of the pictures save draws: a 8192×8192 PNG is 256 MiB of pixels
// while it is drawn, so larger ones are refused, not attempted.
const (
	MaxSide   = 8192       // pixels on a side
	MaxPixels = 16_777_216 // width×height, 64 MiB as RGBA
)

// CheckSize reports a picture size that save refuses, naming the limit.
func CheckSize(width, height int) error {
	switch {
	case width <= 0 || height <= 0:
		return fmt.Errorf("size %d×%d pixels: both must be positive", width, height)
	case width > MaxSide || height > MaxSide:
		return fmt.Errorf("size %d×%d pixels: at most %d on a side", width, height, MaxSide)
	case width*height > MaxPixels:
		return fmt.Errorf("size %d×%d pixels: at most %d pixels in all", width, height, MaxPixels)
	}
	return nil
}

// Formats lists the file extensions Curves and Confusion can write.
var Formats = []string{".png", ".jpg", ".jpeg", ".svg", ".pdf"}

// save renders paint onto a width×height pixel canvas in the format named by
// path's extension and writes it to path atomically.
func save(path string, width, height int, paint func(vgdraw.Canvas)) error {
	if err := CheckSize(width, height); err != nil {
		return fmt.Errorf("plots: %s: %v", path, err)
	}
	var canvas vg.CanvasWriterTo
	w, h := vg.Length(width)*vg.Inch/dpi, vg.Length(height)*vg.Inch/dpi
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png", ".jpg", ".jpeg":
		img := image.NewRGBA(image.Rect(0, 0, width, height))
		c := vgimg.NewWith(vgimg.UseImage(img), vgimg.UseDPI(dpi))
		if ext == ".png" {
			canvas = vgimg.PngCanvas{Canvas: c}
		} else {
			canvas = vgimg.JpegCanvas{Canvas: c}
		}
	case ".svg":
		canvas = vgsvg.New(w, h)
	case ".pdf":
		canvas = vgpdf.New(w, h)
	default:
		return fmt.Errorf("plots: %s: unknown picture format %q; use one of %s",
			path, ext, strings.Join(Formats, " "))
	}
	paint(vgdraw.New(canvas))
	return atomicfile.Write(path, func(out io.Writer) error {
		_, err := canvas.WriteTo(out)
		return err
	})
}
