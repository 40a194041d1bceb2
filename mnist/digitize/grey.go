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
// Compositing over a paper level p is then lum + p·(1−alpha).
func greyAlpha(img image.Image) (lum, alpha []float32, w, h int) {
	return greyAlphaReduced(img, 1)
}

// greyAlphaReduced is greyAlpha with the planes shrunk k times on each side
// (⌈w/k⌉×⌈h/k⌉): each value is the mean of a k×k block of the image (of
// the part of it inside the image at the right and bottom edges), which,
// the luma being premultiplied, is what compositing the block's mean colour
// gives. Digitize shrinks very large images this way while converting them,
// so that its planes stay small whatever the photo's size. The common
// decoded types have fast paths; others go through At.
func greyAlphaReduced(img image.Image, k int) (lum, alpha []float32, w, h int) {
	if v, ok := img.(*oriented); ok {
		return greyOriented(v, k)
	}
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	k = max(k, 1)
	w, h = (sw+k-1)/k, (sh+k-1)/k
	row := rowConverter(img)
	lum = make([]float32, w*h)
	if k == 1 {
		// The alpha plane is made at the first row that is not opaque.
		ra := make([]float32, w)
		for y := range h {
			if !row(y, lum[y*w:(y+1)*w], ra) && alpha == nil {
				alpha = make([]float32, w*h)
				for i := range y * w {
					alpha[i] = 1
				}
			}
			if alpha != nil {
				copy(alpha[y*w:], ra)
			}
		}
		return lum, alpha, w, h
	}
	// Shrinking: sum each block's rows into the planes, then divide.
	alpha = make([]float32, w*h)
	opaque := true
	rl, ra := make([]float32, sw), make([]float32, sw)
	for y := range sh {
		opaque = row(y, rl, ra) && opaque
		ol, oa := lum[(y/k)*w:(y/k+1)*w], alpha[(y/k)*w:(y/k+1)*w]
		for x := range sw {
			ol[x/k] += rl[x]
			oa[x/k] += ra[x]
		}
	}
	for oy := range h {
		bh := min(k, sh-oy*k)
		for ox := range w {
			n := float32(bh * min(k, sw-ox*k))
			lum[oy*w+ox] /= n
			alpha[oy*w+ox] /= n
		}
	}
	if opaque {
		alpha = nil
	}
	return lum, alpha, w, h
}

// rowConverter returns a function that converts row y (counted from the
// top of img's bounds) into premultiplied luma and alpha, and reports
// whether every pixel of the row is opaque.
func rowConverter(img image.Image) func(y int, lum, alpha []float32) bool {
	b := img.Bounds()
	w := b.Dx()
	fill1 := func(alpha []float32) {
		for x := range alpha {
			alpha[x] = 1
		}
	}
	switch m := img.(type) {
	case *image.Gray:
		return func(y int, lum, alpha []float32) bool {
			for x, p := range m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w] {
				lum[x] = float32(p) / 255
			}
			fill1(alpha)
			return true
		}
	case *image.YCbCr: // JPEG: Y is the luma
		return func(y int, lum, alpha []float32) bool {
			for x, p := range m.Y[m.YOffset(b.Min.X, b.Min.Y+y):][:w] {
				lum[x] = float32(p) / 255
			}
			fill1(alpha)
			return true
		}
	case *image.RGBA: // premultiplied
		return func(y int, lum, alpha []float32) bool {
			row, opaque := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w], true
			for x := range w {
				p := row[4*x : 4*x+4 : 4*x+4]
				lum[x] = (lumaR*float32(p[0]) + lumaG*float32(p[1]) + lumaB*float32(p[2])) / 255
				alpha[x] = float32(p[3]) / 255
				opaque = opaque && p[3] == 255
			}
			return opaque
		}
	case *image.NRGBA: // not premultiplied
		return func(y int, lum, alpha []float32) bool {
			row, opaque := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:4*w], true
			for x := range w {
				p := row[4*x : 4*x+4 : 4*x+4]
				a := float32(p[3]) / 255
				lum[x] = (lumaR*float32(p[0]) + lumaG*float32(p[1]) + lumaB*float32(p[2])) / 255 * a
				alpha[x] = a
				opaque = opaque && p[3] == 255
			}
			return opaque
		}
	case *image.Paletted: // GIF, paletted PNG
		var pl, pa [256]float32
		for k, c := range m.Palette {
			pl[k], pa[k] = premultipliedLuma(c)
		}
		return func(y int, lum, alpha []float32) bool {
			opaque := true
			for x, k := range m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):][:w] {
				lum[x], alpha[x] = pl[k], pa[k] // an index past the palette reads as transparent black
				opaque = opaque && pa[k] == 1
			}
			return opaque
		}
	// 16-bit PNGs: the concrete colour types, without At's interface
	// allocation per pixel (seconds and gigabytes of garbage for a
	// 16-megapixel image).
	case *image.RGBA64: // premultiplied
		return func(y int, lum, alpha []float32) bool {
			opaque := true
			for x := range w {
				c := m.RGBA64At(b.Min.X+x, b.Min.Y+y)
				lum[x], alpha[x] = luma16(uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A))
				opaque = opaque && c.A == 0xffff
			}
			return opaque
		}
	case *image.NRGBA64: // not premultiplied
		return func(y int, lum, alpha []float32) bool {
			opaque := true
			for x := range w {
				r, g, bl, a := m.NRGBA64At(b.Min.X+x, b.Min.Y+y).RGBA() // premultiplies
				lum[x], alpha[x] = luma16(r, g, bl, a)
				opaque = opaque && a == 0xffff
			}
			return opaque
		}
	case *image.Gray16:
		return func(y int, lum, alpha []float32) bool {
			for x := range w {
				v := uint32(m.Gray16At(b.Min.X+x, b.Min.Y+y).Y)
				lum[x], _ = luma16(v, v, v, 0xffff)
			}
			fill1(alpha)
			return true
		}
	}
	return func(y int, lum, alpha []float32) bool {
		opaque := true
		for x := range w {
			lum[x], alpha[x] = premultipliedLuma(img.At(b.Min.X+x, b.Min.Y+y))
			opaque = opaque && alpha[x] == 1
		}
		return opaque
	}
}

// premultipliedLuma returns a colour's luma times its alpha, and its alpha.
func premultipliedLuma(c color.Color) (lum, alpha float32) {
	return luma16(c.RGBA()) // premultiplied, 16 bits
}

// luma16 is premultipliedLuma of 16-bit premultiplied components.
func luma16(r, g, b, a uint32) (lum, alpha float32) {
	return (lumaR*float32(r) + lumaG*float32(g) + lumaB*float32(b)) / 0xffff, float32(a) / 0xffff
}

// greyOriented converts the stored image and reorders the planes.
func greyOriented(v *oriented, k int) (lum, alpha []float32, w, h int) {
	sl, sa, sw, sh := greyAlphaReduced(v.src, k)
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
