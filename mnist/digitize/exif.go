package digitize

import (
	"encoding/binary"
	"image"
	"image/color"
)

// exifOrientation returns the EXIF orientation (1 to 8; 1 is upright) of a
// JPEG from its first bytes, or 1 when there is none or it cannot be read.
// Phones store photos as the sensor saw them and record the rotation here.
func exifOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 || (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xCC) {
			return 1 // scan, end or frame header: EXIF comes before these
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation finds tag 0x0112 (Orientation) in IFD0 of a TIFF block.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[off:]))
	for k := range count {
		e := off + 2 + 12*k
		if e+12 > int64(len(t)) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// orient returns img as it should be seen under EXIF orientation o.
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	return &oriented{src: img, o: o}
}

// oriented is a view of src rotated or mirrored by an EXIF orientation,
// without copying its pixels. Digitize reads src through its fast paths and
// reorders the result.
type oriented struct {
	src image.Image
	o   int // EXIF orientation, 2 to 8
}

// swapped reports whether the orientation exchanges width and height.
func (v *oriented) swapped() bool { return v.o >= 5 }

func (v *oriented) ColorModel() color.Model { return v.src.ColorModel() }

func (v *oriented) Bounds() image.Rectangle {
	b := v.src.Bounds()
	if v.swapped() {
		return image.Rect(0, 0, b.Dy(), b.Dx())
	}
	return image.Rect(0, 0, b.Dx(), b.Dy())
}

func (v *oriented) At(x, y int) color.Color {
	b := v.src.Bounds()
	if !(image.Point{x, y}.In(v.Bounds())) {
		return color.Transparent
	}
	sx, sy := v.srcPoint(x, y, b.Dx(), b.Dy())
	return v.src.At(b.Min.X+sx, b.Min.Y+sy)
}

// srcPoint maps a point of the upright view to the stored image of w×h
// pixels, both relative to their top-left corners.
func (v *oriented) srcPoint(x, y, w, h int) (sx, sy int) {
	switch v.o {
	case 2: // mirrored left to right
		return w - 1 - x, y
	case 3: // turned 180°
		return w - 1 - x, h - 1 - y
	case 4: // mirrored top to bottom
		return x, h - 1 - y
	case 5: // transposed
		return y, x
	case 6: // stored turned 90° anticlockwise: turn clockwise
		return y, h - 1 - x
	case 7: // transverse
		return w - 1 - y, h - 1 - x
	case 8: // stored turned 90° clockwise: turn anticlockwise
		return w - 1 - y, x
	}
	return x, y
}
