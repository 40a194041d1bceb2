package plots

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// GridOptions shapes the picture Grid makes.
type GridOptions struct {
	// Width is a tile's width in pixels; 0 takes the square root of the
	// image length (28 for MNIST's 784 bytes).
	Width int
	// Scale draws each pixel as Scale×Scale pixels; 0 means 1.
	Scale int
	// Gap is the white space between and around cells, in pixels.
	Gap int
	// Labels, if given, holds one caption per image, drawn under its tile.
	Labels []string
}

// labelFace draws the captions: a 7×13 pixel fixed-width font.
var labelFace = basicfont.Face7x13

// Grid lays out greyscale images in rows×cols cells, filled row by row; a
// cell without an image stays blank. Give rows or cols as 0 to have it
// computed from the other and the image count, or both to get a square-ish
// grid. The images must all have the same length, a multiple of the tile
// width.
func Grid(images [][]uint8, rows, cols int, opt GridOptions) (*image.RGBA, error) {
	n := len(images)
	if n == 0 {
		return nil, fmt.Errorf("plots: grid: no images")
	}
	rows, cols, err := gridShape(n, rows, cols)
	if err != nil {
		return nil, err
	}
	size := len(images[0])
	w := opt.Width
	if w <= 0 {
		w = int(math.Round(math.Sqrt(float64(size))))
		if w*w != size {
			return nil, fmt.Errorf("plots: grid: images of %d bytes are not square; give GridOptions.Width", size)
		}
	}
	if size == 0 || size%w != 0 {
		return nil, fmt.Errorf("plots: grid: images of %d bytes do not split into rows of %d pixels", size, w)
	}
	h := size / w
	for i, img := range images {
		if len(img) != size {
			return nil, fmt.Errorf("plots: grid: image %d has %d bytes, image 0 has %d", i, len(img), size)
		}
	}
	if len(opt.Labels) != 0 && len(opt.Labels) != n {
		return nil, fmt.Errorf("plots: grid: %d labels for %d images", len(opt.Labels), n)
	}
	scale, gap := max(opt.Scale, 1), max(opt.Gap, 0)

	tileW, tileH := w*scale, h*scale
	cellW, cellH := tileW, tileH
	labelH := 0
	if len(opt.Labels) > 0 {
		labelH = labelFace.Height + 1
		for _, l := range opt.Labels {
			cellW = max(cellW, font.MeasureString(labelFace, l).Ceil())
		}
		cellH += labelH
	}
	out := image.NewRGBA(image.Rect(0, 0, cols*cellW+(cols+1)*gap, rows*cellH+(rows+1)*gap))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	for i, img := range images {
		x0 := gap + (i%cols)*(cellW+gap)
		y0 := gap + (i/cols)*(cellH+gap)
		tx := x0 + (cellW-tileW)/2
		for y := range tileH {
			for x := range tileW {
				v := img[(y/scale)*w+x/scale]
				out.SetRGBA(tx+x, y0+y, color.RGBA{v, v, v, 255})
			}
		}
		if labelH > 0 {
			d := font.Drawer{Dst: out, Src: image.Black, Face: labelFace}
			lw := d.MeasureString(opt.Labels[i]).Ceil()
			d.Dot = fixed.P(x0+(cellW-lw)/2, y0+tileH+1+labelFace.Ascent)
			d.DrawString(opt.Labels[i])
		}
	}
	return out, nil
}

// gridShape fills in a zero rows or cols and checks that n images fit.
func gridShape(n, rows, cols int) (int, int, error) {
	switch {
	case rows <= 0 && cols <= 0:
		cols = int(math.Ceil(math.Sqrt(float64(n))))
		rows = (n + cols - 1) / cols
	case rows <= 0:
		rows = (n + cols - 1) / cols
	case cols <= 0:
		cols = (n + rows - 1) / rows
	}
	if rows*cols < n {
		return 0, 0, fmt.Errorf("plots: grid: %d images do not fit in %d×%d cells", n, rows, cols)
	}
	return rows, cols, nil
}
