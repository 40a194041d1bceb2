package digitize

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// canvas returns a w×h opaque grey image filled with level.
func canvas(w, h int, level uint8) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = level
	}
	return img
}

// fill sets a rectangle of img to level.
func fill(img *image.Gray, r image.Rectangle, level uint8) *image.Gray {
	draw.Draw(img, r, &image.Uniform{color.Gray{level}}, image.Point{}, draw.Src)
	return img
}

// invert returns the photographic negative of a grey image.
func invert(img *image.Gray) *image.Gray {
	out := image.NewGray(img.Rect)
	for i, p := range img.Pix {
		out.Pix[i] = 255 - p
	}
	return out
}

// inkBox returns the bounding box of the non-zero output pixels.
func inkBox(r Result) image.Rectangle {
	box := image.Rectangle{Min: image.Point{r.Cols, r.Rows}}
	for i, v := range r.Pixels {
		if v > 0 {
			x, y := i%r.Cols, i/r.Cols
			box = box.Union(image.Rect(x, y, x+1, y+1))
			box.Min.X, box.Min.Y = min(box.Min.X, x), min(box.Min.Y, y)
		}
	}
	return box
}

func TestBlank(t *testing.T) {
	noisy := canvas(200, 200, 128)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noisy.Pix {
		noisy.Pix[i] = uint8(max(0, min(255, math.Round(128+10*rng.NormFloat64()))))
	}
	for _, c := range []struct {
		name string
		img  image.Image
	}{
		{"white", canvas(50, 50, 255)},
		{"black", canvas(50, 50, 0)},
		{"grey", canvas(640, 480, 128)},
		{"1×1 white", canvas(1, 1, 255)},
		{"1×1 black", canvas(1, 1, 0)},
		{"noise only", noisy},
		{"faint mark", fill(canvas(50, 50, 255), image.Rect(20, 10, 25, 40), 240)}, // 6% contrast
		{"transparent", image.NewNRGBA(image.Rect(0, 0, 30, 30))},
	} {
		_, err := Digitize(c.img, Options{})
		if !errors.Is(err, ErrBlank) || err.Error() != "no ink found: the image is blank" {
			t.Errorf("%s: got %v, want ErrBlank", c.name, err)
		}
	}
	// Read names the file.
	var buf bytes.Buffer
	buf.Write(encode(t, canvas(20, 20, 255), "png"))
	if _, err := Read(&buf, "page.png", 0, Options{}); err == nil || err.Error() != "page.png: no ink found: the image is blank" {
		t.Errorf("Read: got %v", err)
	}
}

// TestPolarity: a digit and its negative digitize identically, and forcing
// the wrong polarity finds no ink.
func TestPolarity(t *testing.T) {
	bright := testDigit(60, 60)
	dark := invert(bright)
	a, err := Digitize(bright, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Digitize(dark, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Inverted || !b.Inverted {
		t.Errorf("Inverted: %v for bright ink, %v for dark ink; want false, true", a.Inverted, b.Inverted)
	}
	if !bytes.Equal(a.Pixels, b.Pixels) {
		t.Errorf("a digit and its negative digitize differently:\n%s\n%s", ascii(a), ascii(b))
	}
	if c, err := Digitize(dark, Options{Ink: InkDark}); err != nil || !bytes.Equal(c.Pixels, b.Pixels) {
		t.Errorf("InkDark on dark ink: %v, or differs from Auto", err)
	}
	if _, err := Digitize(dark, Options{Ink: InkBright}); !errors.Is(err, ErrBlank) {
		t.Errorf("InkBright on dark ink: got %v, want ErrBlank", err)
	}
	// Dark ink on grey paper under uneven light: Auto still finds dark ink.
	shaded := image.NewGray(dark.Rect)
	for y := range 60 {
		for x := range 60 {
			paper := 0.35 + 0.2*float64(x)/60 // 0.35 to 0.55, left to right
			v := paper
			if dark.Pix[y*60+x] < 128 {
				v = 0.05
			}
			shaded.Pix[y*60+x] = uint8(255 * v)
		}
	}
	s, err := Digitize(shaded, Options{})
	if err != nil || !s.Inverted {
		t.Fatalf("shaded grey paper: %v, inverted %v", err, s.Inverted)
	}
	if d := meanAbsDiff(s.Pixels, b.Pixels); d > 10 {
		t.Errorf("shaded grey paper differs from white paper by %.1f levels per pixel:\n%s\n%s", d, ascii(s), ascii(b))
	}
}

// TestExtremeAspect: a "1" drawn as a bar 3 pixels wide and 60 tall scales
// to 1×20 and stands in the middle; a lying bar likewise.
func TestExtremeAspect(t *testing.T) {
	for _, c := range []struct {
		name     string
		img      image.Image
		size     image.Point
		wantInk  image.Rectangle
		wantMass [2]float64
	}{
		{"3×60 bar", fill(canvas(100, 100, 255), image.Rect(40, 20, 43, 80), 0), image.Pt(1, 20), image.Rect(14, 4, 15, 24), [2]float64{14, 13.5}},
		{"60×3 bar", fill(canvas(100, 100, 255), image.Rect(20, 40, 80, 43), 0), image.Pt(20, 1), image.Rect(4, 14, 24, 15), [2]float64{13.5, 14}},
		{"3×60 bar on a 5×64 image", fill(canvas(5, 64, 255), image.Rect(1, 2, 4, 62), 0), image.Pt(1, 20), image.Rect(14, 4, 15, 24), [2]float64{14, 13.5}},
		{"1×60 hairline", fill(canvas(100, 100, 255), image.Rect(50, 20, 51, 80), 0), image.Pt(1, 20), image.Rect(14, 4, 15, 24), [2]float64{14, 13.5}},
	} {
		r, err := Digitize(c.img, Options{})
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if r.Size != c.size || inkBox(r) != c.wantInk || r.MassX != c.wantMass[0] || r.MassY != c.wantMass[1] {
			t.Errorf("%s: size %v, ink at %v, mass (%g, %g); want %v, %v, %v\n%s", c.name, r.Size, inkBox(r), r.MassX, r.MassY, c.size, c.wantInk, c.wantMass, ascii(r))
		}
		for i, v := range r.Pixels {
			if v != 0 && v != 255 {
				t.Errorf("%s: pixel %d is %d, want a solid bar", c.name, i, v)
				break
			}
		}
	}
}

// TestCrop: the crop is reported in the input's coordinates, also for an
// image whose bounds do not start at the origin.
func TestCrop(t *testing.T) {
	big := image.NewRGBA(image.Rect(0, 0, 300, 200))
	draw.Draw(big, big.Rect, image.White, image.Point{}, draw.Src)
	draw.Draw(big, image.Rect(150, 60, 170, 100), image.Black, image.Point{}, draw.Src)
	sub := big.SubImage(image.Rect(100, 50, 250, 150))
	r, err := Digitize(sub, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := image.Rect(150, 60, 170, 100); r.Crop != want || r.Size != image.Pt(10, 20) || r.Scale != 0.5 {
		t.Errorf("crop %v, size %v, scale %g; want %v, 10×20, 0.5", r.Crop, r.Size, r.Scale, want)
	}
	if r.Paper != 1 || !r.Inverted {
		t.Errorf("paper %g, inverted %v: want white paper, inverted", r.Paper, r.Inverted)
	}
}

// TestContrastStretch: faint grey ink on white reaches full ink.
func TestContrastStretch(t *testing.T) {
	img := fill(canvas(80, 80, 250), image.Rect(30, 10, 50, 70), 170) // ink 80 levels below the paper
	r, err := Digitize(img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if peak := slicesMax(r.Pixels); peak != 255 {
		t.Errorf("brightest pixel %d, want 255", peak)
	}
	if want := 80.0 / 255; math.Abs(r.Contrast-want) > 2.0/histBins {
		t.Errorf("contrast %.4f, want %.4f", r.Contrast, want)
	}
}

func maxAbsDiff(a, b []uint8) int {
	m := 0
	for i := range a {
		m = max(m, int(a[i])-int(b[i]), int(b[i])-int(a[i]))
	}
	return m
}

func slicesMax(p []uint8) uint8 {
	m := uint8(0)
	for _, v := range p {
		m = max(m, v)
	}
	return m
}

// TestCentreOfMass: an L shape (mass off its box's centre) is placed with
// its centre of mass, not its box, at the centre, and MassX/MassY say so.
func TestCentreOfMass(t *testing.T) {
	img := canvas(100, 100, 0)
	fill(img, image.Rect(10, 10, 20, 90), 255) // the upright
	fill(img, image.Rect(10, 80, 60, 90), 255) // the foot
	r, err := Digitize(img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, y := massCentre(r.Pixels, r.Cols)
	if math.Abs(x-r.MassX) > 1e-9 || math.Abs(y-r.MassY) > 1e-9 {
		t.Errorf("reported mass (%g, %g), actual (%g, %g)", r.MassX, r.MassY, x, y)
	}
	if x < 13.5 || x >= 14.5 || y < 13.5 || y >= 14.5 {
		t.Errorf("centre of mass (%.2f, %.2f), want within ½ pixel of (14, 14)\n%s", x, y, ascii(r))
	}
	if box := inkBox(r); box.Dy() != 20 || box.Dx() != 13 || box.Min.X == 4 {
		t.Errorf("ink box %v: want 13×20, not centred as a box", box)
	}
}

// TestClipped: with a box of 26 in 28, an L (its mass low, in its foot)
// cannot be centred by mass: the box is moved only to the edge.
func TestClipped(t *testing.T) {
	img := canvas(100, 100, 0)
	fill(img, image.Rect(10, 10, 20, 90), 255) // the upright
	fill(img, image.Rect(10, 80, 60, 90), 255) // the foot
	r, err := Digitize(img, Options{Box: 26})
	if err != nil {
		t.Fatal(err)
	}
	if box := inkBox(r); box.Min.Y != 0 || box.Max.Y != 26 || r.Offset.Y != 0 || r.MassY < 14.5 {
		t.Errorf("ink box %v, offset %v, mass y %.2f: want the box at the top edge, its mass below the centre\n%s", box, r.Offset, r.MassY, ascii(r))
	}
}

// TestAlpha: strokes on a clear canvas (a web drawing) are ink, whatever
// their colour; a photo with a clear hole keeps its paper colour there.
func TestAlpha(t *testing.T) {
	digit := testDigit(60, 60)
	want, err := Digitize(digit, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ink := range []color.NRGBA{black, white, {200, 30, 30, 255}} {
		m := make([]float64, len(digit.Pix))
		for i, p := range digit.Pix {
			m[i] = float64(p) / 255
		}
		r, err := Digitize(strokes(m, 60, 60, ink), Options{})
		if err != nil {
			t.Errorf("%v strokes: %v", ink, err)
			continue
		}
		if d := maxAbsDiff(r.Pixels, want.Pixels); d > 2 { // rounding of the contrast stretch
			t.Errorf("%v strokes on clear differ from the digit by up to %d levels:\n%s", ink, d, ascii(r))
		}
	}
	// White paper with dark ink and a clear hole away from the ink.
	photo := image.NewNRGBA(image.Rect(0, 0, 60, 60))
	for i, p := range digit.Pix {
		v := 255 - p
		photo.Pix[4*i], photo.Pix[4*i+1], photo.Pix[4*i+2], photo.Pix[4*i+3] = v, v, v, 255
	}
	for y := 2; y < 8; y++ {
		for x := 2; x < 8; x++ {
			photo.Pix[4*(y*60+x)+3] = 0
		}
	}
	r, err := Digitize(photo, Options{})
	if err != nil || !bytes.Equal(r.Pixels, want.Pixels) {
		t.Errorf("a clear hole in white paper: %v\n%s", err, ascii(r))
	}
}

// TestNoiseFloor: paper noise (Gaussian, clipped at white as on an
// overexposed sheet, or around grey) leaves at most rare faint specks.
func TestNoiseFloor(t *testing.T) {
	digit := testDigit(120, 120)
	m := make([]float64, len(digit.Pix))
	for i, p := range digit.Pix {
		m[i] = float64(p) / 255
	}
	clean, err := Digitize(digit, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, paper := range []color.NRGBA{white, {200, 200, 200, 255}} {
		for _, sigma := range []float64{8, 20} {
			specks, worst := 0, uint8(0)
			for seed := range uint64(10) {
				r, err := Digitize(addNoise(paint(m, 120, 120, black, paper), sigma, seed), Options{})
				if err != nil {
					t.Fatalf("paper %v, σ %g: %v", paper, sigma, err)
				}
				for i, v := range r.Pixels {
					if v > 0 && clean.Pixels[i] == 0 && !nearInk(clean, i) {
						specks++
						worst = max(worst, v)
					}
				}
			}
			// Measured: at most 2 specks of at most 2 levels in 10 images.
			if specks > 10 || worst > 8 {
				t.Errorf("paper %v, noise σ %g: %d specks in 10 images, the worst %d levels", paper, sigma, specks, worst)
			}
		}
	}
}

// nearInk reports whether pixel i of r has ink within a pixel of it.
func nearInk(r Result, i int) bool {
	x, y := i%r.Cols, i/r.Cols
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			if xx, yy := x+dx, y+dy; xx >= 0 && xx < r.Cols && yy >= 0 && yy < r.Rows && r.Pixels[yy*r.Cols+xx] > 0 {
				return true
			}
		}
	}
	return false
}

func TestOptions(t *testing.T) {
	img := testDigit(40, 40)
	for _, c := range []struct {
		opt  Options
		want string
	}{
		{Options{Box: 30}, "digitize: box 30 does not fit the 28×28 output: use 1 to 28"},
		{Options{Rows: -1}, "digitize: output size -1×28: want 1 to 4096 pixels a side"},
		{Options{Threshold: 1}, "digitize: threshold 1: want a fraction of full ink above 0 and below 1"},
		{Options{Threshold: math.NaN()}, "digitize: threshold NaN: want a fraction of full ink above 0 and below 1"},
		{Options{MinContrast: -0.5}, "digitize: minimum contrast -0.5: want a fraction above 0 and below 1"},
		{Options{Ink: 7}, "digitize: unknown ink polarity 7: use Auto, InkDark or InkBright"},
	} {
		if _, err := Digitize(img, c.opt); err == nil || err.Error() != c.want {
			t.Errorf("%+v: got %v, want %q", c.opt, err, c.want)
		}
	}
	r, err := Digitize(img, Options{Rows: 32, Cols: 40, Box: 24})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Pixels) != 32*40 || r.Rows != 32 || r.Cols != 40 || max(r.Size.X, r.Size.Y) != 24 || r.Image().Bounds() != image.Rect(0, 0, 40, 32) {
		t.Errorf("32×40 with box 24: %d pixels, %d×%d, size %v", len(r.Pixels), r.Rows, r.Cols, r.Size)
	}
	if _, err := Digitize(nil, Options{}); err == nil {
		t.Error("nil image: no error")
	}
	huge := &image.Uniform{C: color.White} // bounds of ±10⁹ pixels
	if _, err := Digitize(huge, Options{}); err == nil || !strings.Contains(err.Error(), "is more than the 100 megapixel Digitize works on: scale it down") {
		t.Errorf("a uniform image of unbounded size: %v", err)
	}
	for s, want := range map[string]Polarity{"auto": Auto, "": Auto, "dark": InkDark, "bright": InkBright} {
		if p, err := ParsePolarity(s); err != nil || p != want || (s != "" && p.String() != s) {
			t.Errorf("ParsePolarity(%q) = %v, %v", s, p, err)
		}
	}
	if _, err := ParsePolarity("white"); err == nil || !strings.Contains(err.Error(), "use auto, dark") {
		t.Errorf("ParsePolarity(white): %v", err)
	}
}

func TestFromPixels(t *testing.T) {
	frac := make([]float64, 784)
	levels := make([]float64, 784)
	for i := range frac {
		frac[i] = float64(i%28) / 27
		levels[i] = math.Round(frac[i] * 255)
	}
	a, err := FromPixels(frac, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	b, err := FromPixels(levels, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Pix, b.Pix) || a.Pix[27] != 255 || a.Pix[0] != 0 {
		t.Errorf("0..1 and 0..255 give different images: %v / %v", a.Pix[:28], b.Pix[:28])
	}
	for _, c := range []struct {
		v    []float64
		w, h int
		want string
	}{
		{make([]float64, 783), 28, 28, "pixels: got 783 values for a 28×28 image, want 784"},
		{[]float64{0, math.NaN()}, 2, 1, "pixels: value 1 (row 0, column 1) is NaN: want 0 to 1, or 0 to 255"},
		{[]float64{-1, 0}, 2, 1, "pixels: value 0 (row 0, column 0) is -1: want 0 to 1, or 0 to 255"},
		{[]float64{0, 256}, 2, 1, "pixels: value 1 (row 0, column 1) is 256: want 0 to 1, or 0 to 255"},
		{[]float64{math.Inf(1)}, 1, 1, "pixels: value 0 (row 0, column 0) is +Inf: want 0 to 1, or 0 to 255"},
		{nil, 0, 0, "pixels: 0×0 is not an image size: want 1 to 16384 a side"},
	} {
		if _, err := FromPixels(c.v, c.w, c.h); err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
}

// TestGreyFastPaths compares each image type's fast path with the generic
// At path, on sub-images whose bounds and strides are not the obvious ones.
func TestGreyFastPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	r := image.Rect(3, 5, 40, 30)
	rgba := image.NewRGBA(r)
	nrgba := image.NewNRGBA(r)
	gray16 := image.NewGray16(r)
	cmyk := image.NewCMYK(r)
	pal := image.NewPaletted(r, color.Palette{color.Black, color.White, color.NRGBA{200, 40, 40, 128}, color.Transparent})
	ycc := image.NewYCbCr(r, image.YCbCrSubsampleRatio420)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			a := uint8(rng.IntN(256))
			c := color.NRGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), a}
			nrgba.Set(x, y, c)
			rgba.Set(x, y, c)
			gray16.Set(x, y, color.Gray16{uint16(rng.IntN(65536))})
			cmyk.Set(x, y, c)
			pal.SetColorIndex(x, y, uint8(rng.IntN(4)))
			ycc.Y[ycc.YOffset(x, y)] = uint8(16 + rng.IntN(220)) // no clipping in the RGB conversion
		}
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = uint8(118+rng.IntN(20)), uint8(118+rng.IntN(20)) // mild chroma: no clipping
	}
	sub := image.Rect(5, 6, 33, 29)
	for _, img := range []image.Image{
		rgba.SubImage(sub), nrgba.SubImage(sub), gray16.SubImage(sub), cmyk.SubImage(sub),
		pal.SubImage(sub), ycc.SubImage(sub), testDigit(9, 7).SubImage(image.Rect(1, 1, 8, 6)),
	} {
		lum, alpha, w, h := greyAlpha(img)
		b := img.Bounds()
		if w != b.Dx() || h != b.Dy() {
			t.Errorf("%T: planes %d×%d, bounds %v", img, w, h, b)
			continue
		}
		tol := float32(1e-4)
		if _, ok := img.(*image.YCbCr); ok {
			tol = 2.0 / 255 // Y against the luma of the rounded RGB
		}
		for y := range h {
			for x := range w {
				wl, wa := premultipliedLuma(img.At(b.Min.X+x, b.Min.Y+y))
				ga := float32(1)
				if alpha != nil {
					ga = alpha[y*w+x]
				}
				if d := lum[y*w+x] - wl; d > tol || d < -tol || math.Abs(float64(ga-wa)) > 1e-5 {
					t.Fatalf("%T at (%d, %d): luma %g alpha %g, want %g %g", img, x, y, lum[y*w+x], ga, wl, wa)
				}
			}
		}
	}
}

// ascii draws a result for failure messages.
func ascii(r Result) string {
	var sb strings.Builder
	for y := range r.Rows {
		for x := range r.Cols {
			sb.WriteByte(" .:-=+*#%@"[int(r.Pixels[y*r.Cols+x])*10/256])
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
