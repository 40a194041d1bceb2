package cpu

import (
	"github.com/mnist-go/mnist/nn"
)

// The convolution and pooling ops: the loops of nn/naive, split across the
// pool by output rows (Im2Col), input rows (Col2Im), images (pooling) and
// samples (GatherAffine), accumulating in float32. The GEMMs of a
// convolution are ordinary Gemm calls on the column matrix (see nn.ConvGeom).

// convScratch holds the jobs of the convolution ops between calls, so
// that the ops do not allocate.
type convScratch struct {
	im2col im2colJob
	col2im col2imJob
	pool   poolJob
	gather gatherAffineJob
}

// im2colJob writes rows of the column matrix, a chunk of rows at a time.
type im2colJob struct {
	cols, x []float32
	g       nn.ConvGeom
}

// im2colRows is the rows of the column matrix per chunk.
const im2colRows = 64

func (j *im2colJob) chunks() (int, int) { return chunkCount(j.g.Rows(), im2colRows), 0 }

func (j *im2colJob) do(w, phase, c int) {
	g := j.g
	oh, ow, k := g.OutH(), g.OutW(), g.Cols()
	lo, hi := chunkRange(c, g.Rows(), im2colRows)
	for r := lo; r < hi; r++ {
		n, y, x := r/(oh*ow), r/ow%oh, r%ow
		dst := j.cols[r*k : (r+1)*k]
		img := j.x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
		for kh := 0; kh < g.KH; kh++ {
			ih := y*g.Stride - g.Pad + kh
			for kw := 0; kw < g.KW; kw++ {
				iw := x*g.Stride - g.Pad + kw
				tap := kh*g.KW + kw
				if ih < 0 || ih >= g.H || iw < 0 || iw >= g.W {
					for c := 0; c < g.C; c++ {
						dst[c*g.KH*g.KW+tap] = 0
					}
					continue
				}
				src := img[(ih*g.W+iw)*g.C : (ih*g.W+iw+1)*g.C]
				for c, v := range src {
					dst[c*g.KH*g.KW+tap] = v
				}
			}
		}
	}
}

// Im2Col writes the receptive fields of the NHWC batch x as the rows of
// cols (see nn.Backend.Im2Col).
func (b *Backend) Im2Col(cols, x nn.Buffer, g nn.ConvGeom) {
	cs, xs, ok := b.core.Im2ColArgs(cols, x, g)
	if !ok {
		return
	}
	b.conv.im2col = im2colJob{cols: cs, x: xs, g: g}
	b.runJob(&b.conv.im2col, len(cs))
}

// col2imJob sums the column matrix back into rows of input pixels.
type col2imJob struct {
	dx, cols []float32
	g        nn.ConvGeom
}

func (j *col2imJob) chunks() (int, int) { return chunkCount(j.g.Batch*j.g.H, 1), 0 }

// do computes input row c (image c/H, row c%H): every pixel and channel
// gathers the column entries of the windows that cover it.
func (j *col2imJob) do(w, phase, c int) {
	g := j.g
	oh, ow, k, taps := g.OutH(), g.OutW(), g.Cols(), g.KH*g.KW
	n, ih := c/g.H, c%g.H
	row := j.dx[(n*g.H+ih)*g.W*g.C : (n*g.H+ih+1)*g.W*g.C]
	clear(row)
	for kh := 0; kh < g.KH; kh++ {
		t := ih + g.Pad - kh // = y·Stride
		if t < 0 || t%g.Stride != 0 || t/g.Stride >= oh {
			continue
		}
		y := t / g.Stride
		for iw := 0; iw < g.W; iw++ {
			dst := row[iw*g.C : (iw+1)*g.C]
			for kw := 0; kw < g.KW; kw++ {
				u := iw + g.Pad - kw
				if u < 0 || u%g.Stride != 0 || u/g.Stride >= ow {
					continue
				}
				x := u / g.Stride
				src := j.cols[((n*oh+y)*ow+x)*k+kh*g.KW+kw:]
				for ch := range dst {
					dst[ch] += src[ch*taps]
				}
			}
		}
	}
}

// Col2Im sets dx to the adjoint of Im2Col applied to cols (see
// nn.Backend.Col2Im).
func (b *Backend) Col2Im(dx, cols nn.Buffer, g nn.ConvGeom) {
	ds, cs, ok := b.core.Col2ImArgs(dx, cols, g)
	if !ok {
		return
	}
	b.conv.col2im = col2imJob{dx: ds, cols: cs, g: g}
	b.runJob(&b.conv.col2im, len(cs))
}

// poolJob runs MaxPool2D (backward false) or its backward pass over whole
// images, one image per chunk: a window never leaves its image, so the
// backward pass's scatter stays within the chunk.
type poolJob struct {
	backward bool
	x, y     []float32 // forward: input, output; backward: dx, dy
	argmax   []int32
	g        nn.PoolGeom
}

func (j *poolJob) chunks() (int, int) { return j.g.Batch, 0 }

func (j *poolJob) do(w, phase, n int) {
	g := j.g
	oh, ow := g.OutH(), g.OutW()
	in := j.x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
	outLen := oh * ow * g.C
	out := j.y[n*outLen : (n+1)*outLen]
	var arg []int32
	if j.argmax != nil {
		arg = j.argmax[n*outLen : (n+1)*outLen]
	}
	if j.backward {
		clear(in)
	}
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := (oy*ow + ox) * g.C
			if j.backward {
				for c := 0; c < g.C; c++ {
					a := int(arg[o+c])
					i, jj := a/g.Size, a%g.Size
					in[((oy*g.Stride+i)*g.W+ox*g.Stride+jj)*g.C+c] += out[o+c]
				}
				continue
			}
			// The window's first pixel, then the others in row-major order.
			first := in[(oy*g.Stride*g.W+ox*g.Stride)*g.C:]
			best := out[o : o+g.C]
			copy(best, first[:g.C])
			if arg != nil {
				clear(arg[o : o+g.C])
			}
			for i := 0; i < g.Size; i++ {
				for jj := 0; jj < g.Size; jj++ {
					if i == 0 && jj == 0 {
						continue
					}
					src := in[((oy*g.Stride+i)*g.W+ox*g.Stride+jj)*g.C:]
					src = src[:g.C]
					for c, v := range src {
						if v > best[c] || v != v && best[c] == best[c] {
							best[c] = v
							if arg != nil {
								arg[o+c] = int32(i*g.Size + jj)
							}
						}
					}
				}
			}
		}
	}
}

// MaxPool2D sets y to the maxima of x's windows and, when argmax is not
// nil, argmax to their positions (see nn.Backend.MaxPool2D).
func (b *Backend) MaxPool2D(y, argmax, x nn.Buffer, g nn.PoolGeom) {
	ys, xs, as, ok := b.core.MaxPoolArgs(y, argmax, x, g)
	if !ok {
		return
	}
	b.conv.pool = poolJob{x: xs, y: ys, argmax: as, g: g}
	b.runJob(&b.conv.pool, len(xs))
}

// MaxPool2DBackward routes dy to the argmax of every window (see
// nn.Backend.MaxPool2DBackward).
func (b *Backend) MaxPool2DBackward(dx, dy, argmax nn.Buffer, g nn.PoolGeom) {
	ds, gs, as, ok := b.core.MaxPoolBackwardArgs(dx, dy, argmax, g)
	if !ok {
		return
	}
	b.conv.pool = poolJob{backward: true, x: ds, y: gs, argmax: as, g: g}
	b.runJob(&b.conv.pool, len(ds))
}
