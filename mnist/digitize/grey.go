package digitize

import (
	"image"
	"image/color"
)

// Rec. 601 luma weights, the ones JPEG's Y channel and image/color's
// GrayModel use: green looks brightest, blue darkest.
const (
	lumaR = 0.299
	lumaG = 0.587
	lumaB = 0.114
)

// greyAlpha converts img to two w×h planes with values in [0, 1]: the luma
// premultiplied by alpha, and alpha itself (nil when every pixel is opaque).
// Compositing over a paper level p is then lum + p·(1−alpha). The common
// decoded types have fast paths; others go through At.
func greyAlpha(img image.Image) (lum, alpha []float32, w, h int) {
	if v, ok := img.(*oriented); ok {
		return greyOriented(v)
	}
	b := img.Bounds()
	w, h = b.Dx(), b.Dy()
	lum = make([]float32, w*h)
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			out := lum[y*w:][:w]
			for x, p := range row {
				out[x] = float32(p) / 255
			}
		}
		return lum, nil, w, h
	case *image.YCbCr: // JPEG: Y is the luma
		for y := range h {
			row := m.Y[m.YOffset(b.Min.X, b.Min.Y+y):][:w]
			out := lum[y*w:][:w]
			for x, p := range row {
				out[x] = float32(p) / 255
			}
		}
		return lum, nil, w, h
	}
	alpha = make([]float32, w*h)
	opaque := true
	switch m := img.(type) {
	case *image.RGBA: // premultiplied
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				p := row[4*x : 4*x+4 : 4*x+4]
				i := y*w + x
				lum[i] = (lumaR*float32(p[0]) + lumaG*float32(p[1]) + lumaB*float32(p[2])) / 255
				alpha[i] = float32(p[3]) / 255
				opaque = opaque && p[3] == 255
			}
		}
	case *image.NRGBA: // not premultiplied
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w]
			for x := range w {
				p := row[4*x : 4*x+4 : 4*x+4]
				i := y*w + x
				a := float32(p[3]) / 255
				lum[i] = (lumaR*float32(p[0]) + lumaG*float32(p[1]) + lumaB*float32(p[2])) / 255 * a
				alpha[i] = a
				opaque = opaque && p[3] == 255
			}
		}
	case *image.Paletted: // GIF, paletted PNG
		var pl, pa [256]float32
		for k, c := range m.Palette {
			pl[k], pa[k] = premultipliedLuma(c)
		}
		for y := range h {
			row := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w]
			for x, k := range row {
				i := y*w + x
				lum[i], alpha[i] = pl[k], pa[k] // an index past the palette reads as transparent black
				opaque = opaque && pa[k] == 1
			}
		}
	default:
		for y := range h {
			for x := range w {
				i := y*w + x
				lum[i], alpha[i] = premultipliedLuma(img.At(b.Min.X+x, b.Min.Y+y))
				opaque = opaque && alpha[i] == 1
			}
		}
	}
	if opaque {
		alpha = nil
	}
	return lum, alpha, w, h
}

// premultipliedLuma returns a colour's luma times its alpha, and its alpha.
func premultipliedLuma(c color.Color) (lum, alpha float32) {
	r, g, b, a := c.RGBA() // premultiplied, 16 bits
	return (lumaR*float32(r) + lumaG*float32(g) + lumaB*float32(b)) / 0xffff, float32(a) / 0xffff
}

// greyOriented converts the stored image and reorders the planes.
func greyOriented(v *oriented) (lum, alpha []float32, w, h int) {
	sl, sa, sw, sh := greyAlpha(v.src)
	w, h = sw, sh
	if v.swapped() {
		w, h = sh, sw
	}
	lum = make([]float32, w*h)
	if sa != nil {
		alpha = make([]float32, w*h)
	}
	for y := range h {
		for x := range w {
			sx, sy := v.srcPoint(x, y, sw, sh)
			lum[y*w+x] = sl[sy*sw+sx]
			if sa != nil {
				alpha[y*w+x] = sa[sy*sw+sx]
			}
		}
	}
	return lum, alpha, w, h
}
