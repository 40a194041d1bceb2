package naive

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// Im2Col writes the receptive fields of the NHWC batch x as the rows of
// cols (g.Rows()×g.Cols()), columns in PyTorch's weight order (c, kh, kw):
//
//	cols[(b·OH + oh)·OW + ow, (c·KH + kh)·KW + kw] = x[b, oh·S − P + kh, ow·S − P + kw, c]
//
// and 0 where that position is in the padding.
func (b *Backend) Im2Col(cols, x nn.Buffer, g nn.ConvGeom) {
	cs, xs, ok := b.core.Im2ColArgs(cols, x, g)
	if !ok {
		return
	}
	oh, ow, k := g.OutH(), g.OutW(), g.Cols()
	for n := 0; n < g.Batch; n++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				row := ((n*oh+y)*ow + x) * k
				for c := 0; c < g.C; c++ {
					for kh := 0; kh < g.KH; kh++ {
						for kw := 0; kw < g.KW; kw++ {
							ih, iw := y*g.Stride-g.Pad+kh, x*g.Stride-g.Pad+kw
							v := float32(0)
							if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
								v = xs[((n*g.H+ih)*g.W+iw)*g.C+c]
							}
							cs[row+(c*g.KH+kh)*g.KW+kw] = v
						}
					}
				}
			}
		}
	}
}

// Col2Im sets dx (the NHWC batch) to the adjoint of Im2Col applied to cols:
// each element is the sum, in float64, of the cols elements that Im2Col
// copies it to (0 when no window covers it).
func (b *Backend) Col2Im(dx, cols nn.Buffer, g nn.ConvGeom) {
	ds, cs, ok := b.core.Col2ImArgs(dx, cols, g)
	if !ok {
		return
	}
	sum := make([]float64, len(ds))
	oh, ow, k := g.OutH(), g.OutW(), g.Cols()
	for n := 0; n < g.Batch; n++ {
		for y := 0; y < oh; y++ {
			for x := 0; x < ow; x++ {
				row := ((n*oh+y)*ow + x) * k
				for c := 0; c < g.C; c++ {
					for kh := 0; kh < g.KH; kh++ {
						for kw := 0; kw < g.KW; kw++ {
							ih, iw := y*g.Stride-g.Pad+kh, x*g.Stride-g.Pad+kw
							if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
								sum[((n*g.H+ih)*g.W+iw)*g.C+c] += float64(cs[row+(c*g.KH+kh)*g.KW+kw])
							}
						}
					}
				}
			}
		}
	}
	for i, v := range sum {
		ds[i] = float32(v)
	}
}

// MaxPool2D sets y to the maxima of the Size×Size windows of x and, when
// argmax is not nil, argmax to i·Size + j of the first maximum (row-major
// window order); a NaN counts as the largest value.
func (b *Backend) MaxPool2D(y, argmax, x nn.Buffer, g nn.PoolGeom) {
	ys, xs, as, ok := b.core.MaxPoolArgs(y, argmax, x, g)
	if !ok {
		return
	}
	oh, ow := g.OutH(), g.OutW()
	for n := 0; n < g.Batch; n++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for c := 0; c < g.C; c++ {
					best, at := float32(math.Inf(-1)), -1
					for i := 0; i < g.Size; i++ {
						for j := 0; j < g.Size; j++ {
							v := xs[((n*g.H+oy*g.Stride+i)*g.W+ox*g.Stride+j)*g.C+c]
							if at < 0 || v > best || isNaN(v) && !isNaN(best) {
								best, at = v, i*g.Size+j
							}
						}
					}
					o := ((n*oh+oy)*ow+ox)*g.C + c
					ys[o] = best
					if as != nil {
						as[o] = int32(at)
					}
				}
			}
		}
	}
}

// MaxPool2DBackward sets dx to the gradient with respect to MaxPool2D's
// input: dx is 0 except at each window's argmax, which receives the sum of
// the dy elements whose windows chose it.
func (b *Backend) MaxPool2DBackward(dx, dy, argmax nn.Buffer, g nn.PoolGeom) {
	ds, gs, as, ok := b.core.MaxPoolBackwardArgs(dx, dy, argmax, g)
	if !ok {
		return
	}
	sum := make([]float64, len(ds))
	oh, ow := g.OutH(), g.OutW()
	for n := 0; n < g.Batch; n++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for c := 0; c < g.C; c++ {
					o := ((n*oh+oy)*ow+ox)*g.C + c
					i, j := int(as[o])/g.Size, int(as[o])%g.Size
					sum[((n*g.H+oy*g.Stride+i)*g.W+ox*g.Stride+j)*g.C+c] += float64(gs[o])
				}
			}
		}
	}
	for i, v := range sum {
		ds[i] = float32(v)
	}
}

// GatherAffine builds a batch like Gather, each image resampled through
// its affine map (see nn.Backend.GatherAffine), in float64.
func (b *Backend) GatherAffine(x, y, images, labels, order, affine nn.Buffer, start, rows, height, width int, scale, shift float32) {
	xs, os, imgs, as, ok := b.core.GatherAffineArgs(x, y, images, labels, order, affine, start, rows, height, width)
	if !ok {
		return
	}
	pixels := height * width
	for r := 0; r < rows; r++ {
		i := int(os[r])
		img := imgs[i*pixels : (i+1)*pixels]
		a := as[r*nn.AffineParams:]
		pixel := func(px, py int) float64 {
			if px < 0 || px >= width || py < 0 || py >= height {
				return 0
			}
			return float64(img[py*width+px])
		}
		for oy := 0; oy < height; oy++ {
			for ox := 0; ox < width; ox++ {
				sx := float64(a[0])*float64(ox) + float64(a[1])*float64(oy) + float64(a[2])
				sy := float64(a[3])*float64(ox) + float64(a[4])*float64(oy) + float64(a[5])
				v := 0.0
				if sx > -1 && sx < float64(width) && sy > -1 && sy < float64(height) {
					x0, y0 := math.Floor(sx), math.Floor(sy)
					fx, fy := sx-x0, sy-y0
					px, py := int(x0), int(y0)
					v = (1-fy)*((1-fx)*pixel(px, py)+fx*pixel(px+1, py)) + fy*((1-fx)*pixel(px, py+1)+fx*pixel(px+1, py+1))
				}
				xs[r*pixels+oy*width+ox] = float32(v*float64(scale) + float64(shift))
			}
		}
	}
}

func isNaN(v float32) bool { return v != v }
