package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// convGeoms are the convolutions Im2Col and Col2Im run on: the CNN's two
// layers (small batches), padding, strides that skip pixels or make
// windows overlap, 1×1 kernels, a kernel as large as the image, batch 0.
var convGeoms = []nn.ConvGeom{
	{Batch: 1, H: 5, W: 5, C: 1, KH: 3, KW: 3, Stride: 1},
	{Batch: 3, H: 28, W: 28, C: 1, KH: 5, KW: 5, Stride: 1},
	{Batch: 2, H: 12, W: 12, C: 32, KH: 5, KW: 5, Stride: 1},
	{Batch: 2, H: 7, W: 6, C: 3, KH: 3, KW: 2, Stride: 2, Pad: 1},
	{Batch: 1, H: 6, W: 6, C: 2, KH: 3, KW: 3, Stride: 3, Pad: 2},
	{Batch: 2, H: 5, W: 7, C: 3, KH: 1, KW: 1, Stride: 1},
	{Batch: 1, H: 4, W: 4, C: 2, KH: 4, KW: 4, Stride: 1},
	{Batch: 2, H: 9, W: 8, C: 5, KH: 4, KW: 3, Stride: 2},
	{Batch: 0, H: 5, W: 5, C: 2, KH: 3, KW: 3, Stride: 1},
}

func convName(g nn.ConvGeom) string {
	return fmt.Sprintf("b%d/%dx%dx%d/k%dx%d/s%d/p%d", g.Batch, g.H, g.W, g.C, g.KH, g.KW, g.Stride, g.Pad)
}

func poolName(g nn.PoolGeom) string {
	return fmt.Sprintf("b%d/%dx%dx%d/size%d/s%d", g.Batch, g.H, g.W, g.C, g.Size, g.Stride)
}

// convSource returns the input index that column col of row r of the column
// matrix copies, or -1 for padding: the definition of Im2Col.
func convSource(g nn.ConvGeom, r, col int) int {
	oh, ow := g.OutH(), g.OutW()
	n, y, x := r/(oh*ow), r/ow%oh, r%ow
	c, kh, kw := col/(g.KH*g.KW), col/g.KW%g.KH, col%g.KW
	ih, iw := y*g.Stride-g.Pad+kh, x*g.Stride-g.Pad+kw
	if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
		return -1
	}
	return ((n*g.H+ih)*g.W+iw)*g.C + c
}

func (s *suite) testIm2Col(t *testing.T) {
	x := s.backend(t)
	r := newRand(50)
	for i, g := range convGeoms {
		t.Run(convName(g), func(t *testing.T) {
			x := x.with(t)
			in := normals(r, g.InputLen(), 0.8)
			rows, cols := g.Rows(), g.Cols()
			gx := x.guardF32(in, layouts[i%len(layouts)])
			gc := x.guardF32(nanSlice(rows*cols), layouts[(i+1)%len(layouts)])
			x.b.Im2Col(gc.buf, gx.buf, g)
			x.sync()
			want := make([]float32, rows*cols)
			for k := range want {
				if src := convSource(g, k/cols, k%cols); src >= 0 {
					want[k] = in[src]
				}
			}
			sameBits(t, "cols", gc.values("cols"), want)
			gx.unchanged("x")
		})
	}
}

func (s *suite) testCol2Im(t *testing.T) {
	x := s.backend(t)
	r := newRand(51)
	for i, g := range convGeoms {
		t.Run(convName(g), func(t *testing.T) {
			x := x.with(t)
			rows, cols := g.Rows(), g.Cols()
			dcols := normals(r, rows*cols, 0.9)
			gc := x.guardF32(dcols, layouts[i%len(layouts)])
			gd := x.guardF32(nanSlice(g.InputLen()), layouts[(i+2)%len(layouts)])
			x.b.Col2Im(gd.buf, gc.buf, g)
			x.sync()
			sum := make([]float64, g.InputLen())
			scale := make([]float64, g.InputLen())
			terms := make([]int, g.InputLen())
			for k, v := range dcols {
				if src := convSource(g, k/cols, k%cols); src >= 0 {
					sum[src] += float64(v)
					scale[src] += math.Abs(float64(v))
					terms[src]++
				}
			}
			want := make([]float32, len(sum))
			most := 0
			for k, v := range sum {
				want[k] = float32(v)
				most = max(most, terms[k])
			}
			closeTo(t, "dx", gd.values("dx"), want, g.C, tolerance{atol: 1e-6, rtol: sumTol(most), scale: scale})
			gc.unchanged("cols")
		})
	}
}

// poolGeoms are the poolings MaxPool2D and its backward pass run on: the
// CNN's two (small batches), odd sizes that floor, overlapping windows,
// strides that skip pixels, one window per image, batch 0.
var poolGeoms = []nn.PoolGeom{
	{Batch: 2, H: 24, W: 24, C: 32, Size: 2, Stride: 2},
	{Batch: 3, H: 8, W: 8, C: 64, Size: 2, Stride: 2},
	{Batch: 1, H: 5, W: 5, C: 3, Size: 2, Stride: 2},
	{Batch: 2, H: 7, W: 6, C: 2, Size: 3, Stride: 2},
	{Batch: 1, H: 9, W: 7, C: 1, Size: 2, Stride: 3},
	{Batch: 2, H: 4, W: 4, C: 5, Size: 4, Stride: 4},
	{Batch: 1, H: 6, W: 6, C: 2, Size: 3, Stride: 1},
	{Batch: 0, H: 4, W: 4, C: 2, Size: 2, Stride: 2},
}

// poolWindow returns the input indices of output element o's window in
// row-major order: the definition of the pooling.
func poolWindow(g nn.PoolGeom, o int) []int {
	oh, ow := g.OutH(), g.OutW()
	c, p := o%g.C, o/g.C
	n, y, x := p/(oh*ow), p/ow%oh, p%ow
	var idx []int
	for i := 0; i < g.Size; i++ {
		for j := 0; j < g.Size; j++ {
			idx = append(idx, ((n*g.H+y*g.Stride+i)*g.W+x*g.Stride+j)*g.C+c)
		}
	}
	return idx
}

// poolInput returns n inputs with many ties (a few distinct values),
// negatives and, when withNaN, NaNs and infinities.
func poolInput(seed uint64, n int, withNaN bool) []float32 {
	r := newRand(seed)
	in := make([]float32, n)
	for k := range in {
		in[k] = float32(r.IntN(7)-3) / 2
		if withNaN && r.IntN(40) == 0 {
			in[k] = []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))}[r.IntN(3)]
		}
	}
	return in
}

func (s *suite) testMaxPool2D(t *testing.T) {
	x := s.backend(t)
	for i, g := range poolGeoms {
		for _, withArgmax := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/argmax=%v", poolName(g), withArgmax), func(t *testing.T) {
				x := x.with(t)
				in := poolInput(uint64(60+i), g.InputLen(), true)
				out := g.OutputLen()
				gx := x.guardF32(in, layouts[i%len(layouts)])
				gy := x.guardF32(nanSlice(out), layouts[(i+1)%len(layouts)])
				var ga *guarded
				var argBuf nn.Buffer
				if withArgmax {
					ga = x.guardI32(make([]int32, out), layouts[(i+3)%len(layouts)])
					argBuf = ga.buf
				}
				x.b.MaxPool2D(gy.buf, argBuf, gx.buf, g)
				x.sync()
				want := make([]float32, out)
				wantArg := make([]int32, out)
				for o := range want {
					best, at := float32(0), -1
					for k, src := range poolWindow(g, o) {
						v := in[src]
						if at < 0 || v > best || math.IsNaN(float64(v)) && !math.IsNaN(float64(best)) {
							best, at = v, k
						}
					}
					want[o], wantArg[o] = best, int32(at)
				}
				sameBits(t, "y", gy.values("y"), want)
				if withArgmax {
					sameInts(t, "argmax", ga.ints("argmax"), wantArg)
				}
				gx.unchanged("x")
			})
		}
	}
}

func (s *suite) testMaxPool2DBackward(t *testing.T) {
	x := s.backend(t)
	r := newRand(70)
	for i, g := range poolGeoms {
		t.Run(poolName(g), func(t *testing.T) {
			x := x.with(t)
			out := g.OutputLen()
			dy := normals(r, out, 1)
			argmax := make([]int32, out)
			for k := range argmax {
				argmax[k] = int32(r.IntN(g.Size * g.Size))
			}
			gdy := x.guardF32(dy, layouts[i%len(layouts)])
			ga := x.guardI32(argmax, layouts[(i+1)%len(layouts)])
			gdx := x.guardF32(nanSlice(g.InputLen()), layouts[(i+2)%len(layouts)])
			x.b.MaxPool2DBackward(gdx.buf, gdy.buf, ga.buf, g)
			x.sync()
			sum := make([]float64, g.InputLen())
			scale := make([]float64, g.InputLen())
			for o, a := range argmax {
				src := poolWindow(g, o)[a]
				sum[src] += float64(dy[o])
				scale[src] += math.Abs(float64(dy[o]))
			}
			want := make([]float32, len(sum))
			for k, v := range sum {
				want[k] = float32(v)
			}
			// Overlapping windows add at most Size² terms.
			closeTo(t, "dx", gdx.values("dx"), want, g.C, tolerance{rtol: sumTol(g.Size * g.Size), scale: scale})
			gdy.unchanged("dy")
			sameInts(t, "argmax (an input)", ga.ints("argmax"), argmax)
		})
	}
	t.Run("bad argmax", func(t *testing.T) {
		x := s.backend(t)
		g := nn.PoolGeom{Batch: 1, H: 4, W: 4, C: 1, Size: 2, Stride: 2}
		x.b.MaxPool2DBackward(x.alloc(nn.Float32, 16), x.upload(filled(4, 1)), x.upload([]int32{0, 3, 4, 1}), g)
		if err := x.b.Sync(); err == nil {
			t.Fatal("MaxPool2DBackward with argmax 4 in a 2×2 window: Sync returned no error")
		} else if msg := err.Error(); !regexpWord("MaxPool2DBackward", msg) || !regexpWord("argmax", msg) {
			t.Errorf("error %q does not name MaxPool2DBackward and argmax", msg)
		}
	})
}

// affineCase is one set of maps for testGatherAffine.
type affineCase struct {
	name string
	maps func(row int) [nn.AffineParams]float32
}

// rotation returns the map that rotates a height×width image by deg degrees
// about its centre and shifts it by (dx, dy) pixels: the output pixel o
// samples the input at R(−deg)·(o − c − d) + c.
func rotation(height, width int, deg, dx, dy float64) [nn.AffineParams]float32 {
	th := deg * math.Pi / 180
	cos, sin := math.Cos(th), math.Sin(th)
	cx, cy := float64(width-1)/2, float64(height-1)/2
	return [nn.AffineParams]float32{
		float32(cos), float32(sin), float32(cx - cos*(cx+dx) - sin*(cy+dy)),
		float32(-sin), float32(cos), float32(cy + sin*(cx+dx) - cos*(cy+dy)),
	}
}

var affineCases = []affineCase{
	{"identity", func(int) [6]float32 { return [6]float32{1, 0, 0, 0, 1, 0} }},
	{"integer shifts", func(r int) [6]float32 { return [6]float32{1, 0, float32(r%5 - 2), 0, 1, float32(r%3 - 1)} }},
	{"subpixel shifts", func(r int) [6]float32 { return [6]float32{1, 0, 0.37 * float32(r%7-3), 0, 1, -0.61 * float32(r%4-2)} }},
	{"rotations", func(r int) [6]float32 { return rotation(28, 28, float64(r%21-10), 0.5*float64(r%9-4), float64(r%5-2)) }},
	{"scale and shear", func(r int) [6]float32 { return [6]float32{1.1, 0.2, -1.5, -0.15, 0.9, 2.25} }},
	{"outside and NaN", func(r int) [6]float32 {
		switch r % 4 {
		case 0:
			return [6]float32{0, 0, -1, 0, 0, 5} // every pixel samples (−1, 5): on the border of the image
		case 1:
			return [6]float32{1, 0, 1e30, 0, 1, 0}
		case 2:
			return [6]float32{float32(math.NaN()), 0, 0, 0, 1, 0}
		}
		return [6]float32{0, 0, 27.5, 0, 0, -0.75} // (27.5, −0.75): the bottom corner's bilinear tail
	}},
}

// bilinear is the float64 definition of GatherAffine's sample of img at
// (sx, sy), before scale and shift.
func bilinear(img []uint8, height, width int, sx, sy float64) float64 {
	if !(sx > -1 && sx < float64(width) && sy > -1 && sy < float64(height)) {
		return 0
	}
	p := func(px, py int) float64 {
		if px < 0 || px >= width || py < 0 || py >= height {
			return 0
		}
		return float64(img[py*width+px])
	}
	x0, y0 := math.Floor(sx), math.Floor(sy)
	tx, ty := sx-x0, sy-y0
	px, py := int(x0), int(y0)
	return (1-ty)*((1-tx)*p(px, py)+tx*p(px+1, py)) + ty*((1-tx)*p(px, py+1)+tx*p(px+1, py+1))
}

// testGatherAffine resamples a data set through per-row maps and compares
// with the float64 definition. The maps are computed in float32 by every
// backend, and a sample moves by up to 255 per pixel it shifts, so the
// tolerance follows the rounding of the map: 255·4u·(|a0·ox| + |a1·oy| +
// |a2| + |a3·ox| + |a4·oy| + |a5|), plus the roundings of the result.
func (s *suite) testGatherAffine(t *testing.T) {
	x := s.backend(t)
	r := newRand(80)
	const n, height, width = 50, 28, 28
	pixels := height * width
	images := make([]uint8, n*pixels)
	for k := range images {
		if r.IntN(3) > 0 {
			images[k] = uint8(r.IntN(256))
		}
	}
	labels := make([]uint8, n)
	for k := range labels {
		labels[k] = uint8(r.IntN(10))
	}
	order := make([]int32, n)
	for k, v := range r.Perm(n) {
		order[k] = int32(v)
	}
	for ci, c := range affineCases {
		for _, sh := range []struct {
			start, rows  int
			scale, shift float32
		}{{0, 17, 1.0 / 255, 0}, {13, 37, 1 / (255 * 0.3081), -0.1307 / 0.3081}} {
			t.Run(fmt.Sprintf("%s/start=%d/rows=%d", c.name, sh.start, sh.rows), func(t *testing.T) {
				x := x.with(t)
				affine := make([]float32, n*nn.AffineParams)
				for p := 0; p < n; p++ {
					m := c.maps(p)
					copy(affine[p*nn.AffineParams:], m[:])
				}
				lay := func(j int) layout { return layouts[(ci+j)%len(layouts)] }
				gx := x.guardF32(nanSlice(sh.rows*pixels), lay(0))
				gy := x.guardI32(make([]int32, sh.rows), lay(1))
				ga := x.guardF32(affine, lay(2))
				imgBuf, labBuf, ordBuf := x.upload(images), x.upload(labels), x.upload(order)
				x.b.GatherAffine(gx.buf, gy.buf, imgBuf, labBuf, ordBuf, ga.buf, sh.start, sh.rows, height, width, sh.scale, sh.shift)
				x.sync()
				want := make([]float32, sh.rows*pixels)
				scale := make([]float64, len(want))
				wantY := make([]int32, sh.rows)
				for row := 0; row < sh.rows; row++ {
					i := int(order[sh.start+row])
					a := affine[(sh.start+row)*nn.AffineParams:]
					img := images[i*pixels : (i+1)*pixels]
					for oy := 0; oy < height; oy++ {
						for ox := 0; ox < width; ox++ {
							fx, fy := float64(ox), float64(oy)
							sx := float64(a[0])*fx + float64(a[1])*fy + float64(a[2])
							sy := float64(a[3])*fx + float64(a[4])*fy + float64(a[5])
							v := bilinear(img, height, width, sx, sy)
							k := row*pixels + oy*width + ox
							want[k] = float32(v*float64(sh.scale) + float64(sh.shift))
							mapMag := math.Abs(float64(a[0])*fx) + math.Abs(float64(a[1])*fy) + math.Abs(float64(a[2])) +
								math.Abs(float64(a[3])*fx) + math.Abs(float64(a[4])*fy) + math.Abs(float64(a[5]))
							if math.IsNaN(mapMag) || mapMag > 1e6 {
								mapMag = 0 // every sample is outside: exactly 0
							}
							scale[k] = (255*4*mapMag+8*v)*math.Abs(float64(sh.scale)) + 2*math.Abs(float64(sh.shift))
						}
					}
					wantY[row] = int32(labels[i])
				}
				closeTo(t, "x", gx.values("x"), want, pixels, tolerance{atol: 1e-6, rtol: unitRoundoff, scale: scale})
				sameInts(t, "y", gy.ints("y"), wantY)
				ga.unchanged("affine")
				for _, b := range []nn.Buffer{imgBuf, labBuf, ordBuf, gx.base, gy.base, ga.base} {
					x.b.Free(b)
				}
			})
		}
	}
	t.Run("bad order", func(t *testing.T) {
		x := s.backend(t)
		x.b.GatherAffine(x.alloc(nn.Float32, 2*4), x.alloc(nn.Int32, 2), x.upload(make([]uint8, 3*4)), x.upload(make([]uint8, 3)),
			x.upload([]int32{0, 3}), x.upload(filled(2*nn.AffineParams, 0)), 0, 2, 2, 2, 1, 0)
		if err := x.b.Sync(); err == nil {
			t.Fatal("GatherAffine with order[1] = 3 in a data set of 3: Sync returned no error")
		} else if !regexpWord("GatherAffine", err.Error()) {
			t.Errorf("error %q does not name GatherAffine", err)
		}
	})
}

// convErrCases are misuses of the convolution ops, run by testErrors.
var convErrCases = []errCase{
	{"Im2Col/short cols", "Im2Col", "cols", func(b nn.Backend, f errFixture) {
		b.Im2Col(f.short, f.f32, nn.ConvGeom{Batch: 1, H: 4, W: 4, C: 1, KH: 2, KW: 2, Stride: 1})
	}},
	{"Im2Col/short x", "Im2Col", "x", func(b nn.Backend, f errFixture) {
		b.Im2Col(f.f32, f.short, nn.ConvGeom{Batch: 1, H: 3, W: 3, C: 1, KH: 3, KW: 3, Stride: 1})
	}},
	{"Im2Col/kernel larger than the image", "Im2Col", "kernel", func(b nn.Backend, f errFixture) {
		b.Im2Col(f.f32, f.f32, nn.ConvGeom{Batch: 1, H: 2, W: 2, C: 1, KH: 3, KW: 3, Stride: 1})
	}},
	{"Im2Col/stride 0", "Im2Col", "stride", func(b nn.Backend, f errFixture) {
		b.Im2Col(f.f32, f.f32, nn.ConvGeom{Batch: 1, H: 2, W: 2, C: 1, KH: 1, KW: 1})
	}},
	{"Col2Im/short dx", "Col2Im", "dx", func(b nn.Backend, f errFixture) {
		b.Col2Im(f.short, f.f32, nn.ConvGeom{Batch: 1, H: 4, W: 4, C: 1, KH: 1, KW: 1, Stride: 1})
	}},
	{"Col2Im/negative Batch", "Col2Im", "Batch", func(b nn.Backend, f errFixture) {
		b.Col2Im(f.f32, f.f32, nn.ConvGeom{Batch: -1, H: 4, W: 4, C: 1, KH: 1, KW: 1, Stride: 1})
	}},
	{"MaxPool2D/short y", "MaxPool2D", "y", func(b nn.Backend, f errFixture) {
		b.MaxPool2D(f.short, nil, f.f32, nn.PoolGeom{Batch: 1, H: 8, W: 8, C: 1, Size: 2, Stride: 2})
	}},
	{"MaxPool2D/float32 argmax", "MaxPool2D", "argmax", func(b nn.Backend, f errFixture) {
		b.MaxPool2D(f.f32.Slice(0, 4), f.f32, f.f32.Slice(16, 16), nn.PoolGeom{Batch: 1, H: 4, W: 4, C: 1, Size: 2, Stride: 2})
	}},
	{"MaxPool2D/window larger than the input", "MaxPool2D", "window", func(b nn.Backend, f errFixture) {
		b.MaxPool2D(f.f32, nil, f.f32, nn.PoolGeom{Batch: 1, H: 1, W: 4, C: 1, Size: 2, Stride: 2})
	}},
	{"MaxPool2DBackward/short argmax", "MaxPool2DBackward", "argmax", func(b nn.Backend, f errFixture) {
		b.MaxPool2DBackward(f.f32, f.f32, f.order, nn.PoolGeom{Batch: 1, H: 6, W: 6, C: 1, Size: 2, Stride: 2})
	}},
	{"GatherAffine/short affine", "GatherAffine", "affine", func(b nn.Backend, f errFixture) {
		b.GatherAffine(f.f32, f.i32, f.u8, f.u8, f.order, f.short, 0, 2, 2, 2, 1, 0)
	}},
	{"GatherAffine/short x", "GatherAffine", "x", func(b nn.Backend, f errFixture) {
		b.GatherAffine(f.short, f.i32, f.u8, f.u8, f.order, f.f32, 0, 2, 2, 4, 1, 0)
	}},
}

func init() { errCases = append(errCases, convErrCases...) }
