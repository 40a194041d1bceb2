package cpu

import (
	"math"

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
		ih0, iw0 := y*g.Stride-g.Pad, x*g.Stride-g.Pad
		if x > 0 && r > lo && g.Stride < g.KW && g.C >= im2colShiftChannels {
			im2colShifted(dst, j.cols[(r-1)*k:r*k], img, g, ih0, iw0)
		} else if ih0 >= 0 && ih0+g.KH <= g.H && iw0 >= 0 && iw0+g.KW <= g.W {
			im2colInside(dst, img, g, ih0, iw0)
		} else {
			im2colRow(dst, img, g, ih0, iw0)
		}
	}
}

// im2colShiftChannels is the fewest channels for which im2colShifted pays.
const im2colShiftChannels = 4

// im2colShifted writes the row of the window at (ih0, iw0) from prev, the
// row of the window to its left (Stride pixels before): the taps the two
// windows share are the same inputs, so the row is prev moved left by
// Stride elements (one copy of the whole row, in the cache), and only the
// last Stride columns of each kernel row are read from the image, with
// zeros outside it, as im2colRow would write them.
func im2colShifted(dst, prev, img []float32, g nn.ConvGeom, ih0, iw0 int) {
	s := g.Stride
	copy(dst, prev[s:])
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			ih := ih0 + kh
			row := dst[(c*g.KH+kh)*g.KW:][:g.KW]
			for kw := g.KW - s; kw < g.KW; kw++ {
				iw := iw0 + kw
				v := float32(0)
				if ih >= 0 && ih < g.H && iw >= 0 && iw < g.W {
					v = img[(ih*g.W+iw)*g.C+c]
				}
				row[kw] = v
			}
		}
	}
}

// im2colRow writes one row of the column matrix, the window at (ih0, iw0)
// of image img, with zeros where it leaves the image: the reference loop
// that im2colInside is checked against.
func im2colRow(dst, img []float32, g nn.ConvGeom, ih0, iw0 int) {
	for kh := 0; kh < g.KH; kh++ {
		ih := ih0 + kh
		for kw := 0; kw < g.KW; kw++ {
			iw := iw0 + kw
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

// im2colInside is im2colRow for a window inside the image, without a
// bounds check in its inner loops: one channel copies kernel rows; several
// write the row in order, reading the image with the stride of its channels.
func im2colInside(dst, img []float32, g nn.ConvGeom, ih0, iw0 int) {
	taps := g.KH * g.KW
	if g.C == 1 {
		for kh := 0; kh < g.KH; kh++ {
			copy(dst[kh*g.KW:][:g.KW], img[(ih0+kh)*g.W+iw0:][:g.KW])
		}
		return
	}
	// The row is written in order (channel, then kernel row, then column),
	// the image read with the stride of its channels: the image is in the
	// cache, the column matrix is not, and scattered stores to it would
	// each wait for a line to arrive.
	win := img[(ih0*g.W+iw0)*g.C:][:((g.KH-1)*g.W+g.KW-1)*g.C+g.C]
	_ = dst[g.C*taps-1]
	src, d := &win[0], &dst[0]
	i := 0
	for c := 0; c < g.C; c++ {
		for kh := 0; kh < g.KH; kh++ {
			p := kh*g.W*g.C + c
			for kw := 0; kw < g.KW; kw++ {
				*at(d, i) = *at(src, p+kw*g.C)
				i++
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

// do computes input row c (image c/H, row c%H) pixel by pixel: it lists
// the column entries of channel 0 that cover the pixel, in row's order (kh,
// then kw), and sums them per channel in a register, from +0 as row does,
// so the result is bitwise row's.
func (j *col2imJob) do(w, phase, c int) {
	g := j.g
	if g.KH*g.KW > maxTaps {
		j.row(c)
		return
	}
	oh, ow, k, taps := g.OutH(), g.OutW(), g.Cols(), g.KH*g.KW
	n, ih := c/g.H, c%g.H
	row := j.dx[(n*g.H+ih)*g.W*g.C : (n*g.H+ih+1)*g.W*g.C]
	var offs [maxTaps]int
	for iw := 0; iw < g.W; iw++ {
		m, last := 0, 0
		for kh := 0; kh < g.KH; kh++ {
			t := ih + g.Pad - kh // = y·Stride
			if t < 0 || t%g.Stride != 0 || t/g.Stride >= oh {
				continue
			}
			y := t / g.Stride
			for kw := 0; kw < g.KW; kw++ {
				u := iw + g.Pad - kw
				if u < 0 || u%g.Stride != 0 || u/g.Stride >= ow {
					continue
				}
				o := ((n*oh+y)*ow+u/g.Stride)*k + kh*g.KW + kw
				offs[m], last = o, max(last, o)
				m++
			}
		}
		dst := row[iw*g.C : (iw+1)*g.C]
		if m == 0 {
			clear(dst)
			continue
		}
		_ = j.cols[last+(g.C-1)*taps] // every load below is inside cols
		cols, list := &j.cols[0], offs[:m]
		for ch := range dst {
			var t float32
			for _, o := range list {
				t += *at(cols, o+ch*taps)
			}
			dst[ch] = t
		}
	}
}

// maxTaps is the most kernel taps do handles (its offsets live on the
// stack); larger kernels take row.
const maxTaps = 64

// row computes row c of the input (image c/H, row c%H) by adding each
// window's columns into it, window after window (kh, then kw): the
// reference loop that do is checked against.
func (j *col2imJob) row(c int) {
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
	ks       *kernelSet // windowMax and windowScatter for whole vectors of channels, if SIMD
	backward bool
	x, y     []float32 // forward: input, output; backward: dx, dy
	argmax   []int32
	g        nn.PoolGeom
	// offs holds the offsets of a window's pixels from its first (see
	// windowOffsets), the same for every window: newPoolJob works them out
	// once, and the job, not a stack frame, holds them, since the kernels
	// are called through function values and what they are given escapes
	// to the heap (a frame's array would be allocated per image).
	offs [maxWindow]int
}

// newPoolJob returns the job of MaxPool2D (backward false) or its backward
// pass, its window offsets worked out.
func newPoolJob(ks *kernelSet, backward bool, x, y []float32, argmax []int32, g nn.PoolGeom) poolJob {
	j := poolJob{ks: ks, backward: backward, x: x, y: y, argmax: argmax, g: g}
	if g.Size*g.Size <= maxWindow {
		for i := 0; i < g.Size; i++ {
			for jj := 0; jj < g.Size; jj++ {
				j.offs[i*g.Size+jj] = (i*g.W + jj) * g.C
			}
		}
	}
	return j
}

// maxWindow is the most pixels of a pool window the fast passes handle
// (their offsets live on the stack).
const maxWindow = 64

func (j *poolJob) chunks() (int, int) { return j.g.Batch, 0 }

func (j *poolJob) do(w, phase, n int) {
	if j.g.Size*j.g.Size > maxWindow {
		j.image(n)
		return
	}
	if j.backward {
		j.backwardImage(n)
	} else {
		j.forwardImage(n)
	}
}

// image runs image n's windows one after the other: the reference loops
// of forwardImage and backwardImage.
func (j *poolJob) image(n int) {
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

// windowOffsets returns the offsets in an NHWC image of the pixels of a
// pool window from its first, in row-major order (argmax's numbering), as
// newPoolJob worked them out.
func (j *poolJob) windowOffsets() []int { return j.offs[:j.g.Size*j.g.Size] }

// forwardImage is image's forward pass channel by channel, the running
// maximum in a register and no bounds check in the inner loop: the same
// comparisons in the same order, so bitwise the same maxima and argmax.
func (j *poolJob) forwardImage(n int) {
	g := j.g
	oh, ow := g.OutH(), g.OutW()
	in := j.x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
	outLen := oh * ow * g.C
	out := j.y[n*outLen : (n+1)*outLen]
	var arg []int32
	if j.argmax != nil {
		arg = j.argmax[n*outLen : (n+1)*outLen]
	}
	offs := j.windowOffsets()
	last := offs[len(offs)-1]
	vec := 0 // channels for the kernel set's windowMax, whole vectors
	if j.ks != nil && j.ks.simd() {
		vec = g.C / j.ks.lanes * j.ks.lanes
	}
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := (oy*ow + ox) * g.C
			base := (oy*g.Stride*g.W + ox*g.Stride) * g.C
			win := in[base : base+last+g.C] // every load below is inside
			p := &win[0]
			best := out[o : o+g.C]
			var args []int32
			if arg != nil {
				args = arg[o : o+g.C]
				args = args[:len(best)]
			}
			if vec > 0 {
				var ap *int32
				if args != nil {
					ap = &args[0]
					args = args[vec:]
				}
				j.ks.windowMax(p, &offs[0], len(offs), &best[0], ap, vec)
				p, best = at(p, vec), best[vec:]
			}
			windowMax(p, best, args, offs)
		}
	}
}

// windowMax sets best[c] (and args[c], unless args is nil) to the maximum
// of channel c over the window at p with pixels at offs, and its index.
// The running maximum's bits and index are selected with conditional moves
// (a branch on v > b would be mispredicted half the time); a NaN, seen by
// a branch that is never taken on sane data, sends the channel to
// poolChannel.
func windowMax(p *float32, best []float32, args []int32, offs []int) {
	rest := offs[1:]
	for c := range best {
		v0 := *at(p, c)
		bb, a, nan := math.Float32bits(v0), 0, v0 != v0
		for i, off := range rest {
			v := *at(p, off+c)
			vb, ai := math.Float32bits(v), i+1
			if v != v {
				nan = true
			}
			if v > math.Float32frombits(bb) {
				bb, a = vb, ai
			}
		}
		b := math.Float32frombits(bb)
		if nan {
			b, a = poolChannel(p, c, offs)
		}
		best[c] = b
		if args != nil {
			args[c] = int32(a)
		}
	}
}

// poolChannel returns the maximum of channel c over the window at p with
// pixels at offs, and its index: image's comparisons, for windows with a
// NaN (NaN propagates, the first NaN wins).
func poolChannel(p *float32, c int, offs []int) (float32, int) {
	b, a := *at(p, c), 0
	for i, off := range offs[1:] {
		if v := *at(p, off+c); v > b || v != v && b == b {
			b, a = v, i+1
		}
	}
	return b, a
}

// backwardImage is image's backward pass with the window offsets looked
// up by argmax instead of divided out of it. When windows do not overlap,
// the kernel set's windowScatter writes whole vectors of channels of each
// window (the gradient where the maximum was, +0 elsewhere), and the image
// is cleared first only where windows leave pixels or channels to others.
func (j *poolJob) backwardImage(n int) {
	g := j.g
	oh, ow := g.OutH(), g.OutW()
	in := j.x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
	outLen := oh * ow * g.C
	out := j.y[n*outLen : (n+1)*outLen]
	arg := j.argmax[n*outLen : (n+1)*outLen]
	offs := j.windowOffsets()
	last := offs[len(offs)-1]
	vec := 0 // channels for windowScatter, whole vectors
	if j.ks != nil && j.ks.simd() && g.Stride >= g.Size {
		vec = g.C / j.ks.lanes * j.ks.lanes
	}
	if vec < g.C || g.Stride != g.Size || oh*g.Size != g.H || ow*g.Size != g.W {
		clear(in)
	}
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			o := (oy*ow + ox) * g.C
			base := (oy*g.Stride*g.W + ox*g.Stride) * g.C
			win := in[base : base+last+g.C]
			dy := out[o : o+g.C]
			args := arg[o : o+g.C]
			args = args[:len(dy)]
			if vec > 0 {
				j.ks.windowScatter(&win[0], &offs[0], len(offs), &dy[0], &args[0], vec)
			}
			for c := vec; c < len(dy); c++ {
				win[offs[args[c]]+c] += dy[c]
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
	b.conv.pool = newPoolJob(b.kernels(), false, xs, ys, as, g)
	b.runJob(&b.conv.pool, len(xs))
}

// MaxPool2DBackward routes dy to the argmax of every window (see
// nn.Backend.MaxPool2DBackward).
func (b *Backend) MaxPool2DBackward(dx, dy, argmax nn.Buffer, g nn.PoolGeom) {
	ds, gs, as, ok := b.core.MaxPoolBackwardArgs(dx, dy, argmax, g)
	if !ok {
		return
	}
	b.conv.pool = newPoolJob(b.kernels(), true, ds, gs, as, g)
	b.runJob(&b.conv.pool, len(ds))
}
