package cpu

import (
	"math"
	"unsafe"

	"github.com/mnist-go/mnist/nn"
)

// The convolution and pooling ops: the loops of nn/naive, split across the
// pool by images, accumulating in float32. The GEMMs of a convolution are
// ordinary Gemm calls on the column matrix (see nn.ConvGeom).

// convScratch holds the jobs of the convolution ops between calls, and
// their per-worker scratch, so that the ops do not allocate.
type convScratch struct {
	im2col im2colJob
	col2im col2imJob
	pool   poolJob
	gather gatherAffineJob
	planes [][]float32 // per worker: one image as padded planes (see planeGeom)
	runs   []int       // runOffsets of the last convolution
}

// runOffsets returns the offsets in the planes of g, from a window's first
// tap, of the window's C·KH runs of KW taps, in the order of a row of the
// column matrix (channel, then kernel row).
func (s *convScratch) runOffsets(g nn.ConvGeom) []int {
	pg := planeGeom(g)
	s.runs = s.runs[:0]
	for ch := 0; ch < g.C; ch++ {
		for kh := 0; kh < g.KH; kh++ {
			s.runs = append(s.runs, (ch*pg.h+kh)*pg.w)
		}
	}
	return s.runs
}

// planesFor returns per-worker scratch for one image of g as padded planes,
// allocating only when g needs more than the last convolution did. Each
// has planeSlack floats past the planes, where the kernel sets' addRuns
// and addRunPairs may read and write back a vector's floats unchanged.
func (s *convScratch) planesFor(workers int, g nn.ConvGeom) [][]float32 {
	n := planeGeom(g).len() + planeSlack
	for len(s.planes) < workers {
		s.planes = append(s.planes, nil)
	}
	for w := range s.planes[:workers] {
		if len(s.planes[w]) < n {
			s.planes[w] = make([]float32, n)
		}
	}
	return s.planes[:workers]
}

// runLanes is the vector width of the kernel sets' copyRuns, addRuns and
// addRunPairs, in floats: they take runs of up to runLanes floats
// (runLanes−1 for addRunPairs).
const runLanes = 8

// planeSlack is the floats past the planes where the kernel sets' runs
// may read and write back a vector unchanged.
const planeSlack = runLanes

// planes is the layout in which Im2Col and Col2Im see an image: channel
// after channel (CHW), each channel a (H+2·Pad)×(W+2·Pad) plane with the
// padding as zeros around the pixels. A window's KW taps of one channel
// and kernel row, which a row of the column matrix stores side by side, are
// side by side there too, and no window leaves the padded plane.
type planes struct {
	c, h, w int // channels, padded height, padded width
	pad     int
}

func planeGeom(g nn.ConvGeom) planes {
	return planes{c: g.C, h: g.H + 2*g.Pad, w: g.W + 2*g.Pad, pad: g.Pad}
}

func (p planes) len() int { return p.c * p.h * p.w }

// fill writes img (H×W×C, NHWC) into pl as planes: a transposition, with
// zeros in the padding.
func (p planes) fill(pl, img []float32) {
	h, w := p.h-2*p.pad, p.w-2*p.pad
	if p.pad > 0 {
		clear(pl)
	}
	_ = img[h*w*p.c-1]
	_ = pl[p.len()-1]
	for ch := 0; ch < p.c; ch++ {
		for y := 0; y < h; y++ {
			gather(&pl[(ch*p.h+y+p.pad)*p.w+p.pad], &img[y*w*p.c+ch], w, p.c)
		}
	}
}

// drain writes the pixels of the planes pl into img (H×W×C, NHWC),
// dropping the padding: fill's adjoint without the padding's sums.
func (p planes) drain(img, pl []float32) {
	h, w := p.h-2*p.pad, p.w-2*p.pad
	_ = img[h*w*p.c-1]
	_ = pl[p.len()-1]
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			gather(&img[(y*w+x)*p.c], &pl[(y+p.pad)*p.w+x+p.pad], p.c, p.h*p.w)
		}
	}
}

// gather copies the n floats at src, stride apart, to dst, side by side
// (the bits as they are). Pointers are formed only to the elements it
// touches (none past the end: see unsafe.Pointer's rules).
func gather(dst, src *float32, n, stride int) {
	i := 0
	for ; i+4 <= n; i += 4 {
		a := *u32(src, i*stride)
		b := *u32(src, (i+1)*stride)
		c := *u32(src, (i+2)*stride)
		e := *u32(src, (i+3)*stride)
		*u32(dst, i) = a
		*u32(dst, i+1) = b
		*u32(dst, i+2) = c
		*u32(dst, i+3) = e
	}
	for ; i < n; i++ {
		*u32(dst, i) = *u32(src, i*stride)
	}
}

// u32 and u64 view the float32 at p+i (and for u64 the next one too) as
// their bits.
func u32(p *float32, i int) *uint32 { return (*uint32)(unsafe.Pointer(at(p, i))) }
func u64(p *float32, i int) *uint64 { return (*uint64)(unsafe.Pointer(at(p, i))) }

// im2colJob writes the column matrix one image per chunk: the image goes
// into the worker's scratch as planes, and each row is then C·KH copies of
// KW contiguous floats (a run) to contiguous places.
type im2colJob struct {
	ks      *kernelSet // its copyRuns, if any (else copyRunsGo)
	cols, x []float32
	g       nn.ConvGeom
	planes  [][]float32 // per worker, planeGeom(g).len() floats at least
	runs    []int       // runOffsets(g)
}

func (j *im2colJob) chunks() (int, int) { return j.g.Batch, 0 }

func (j *im2colJob) do(w, phase, n int) {
	g, pg := j.g, planeGeom(j.g)
	img := j.x[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
	pl := img // one channel without padding is its own plane
	if g.C > 1 || g.Pad > 0 {
		pl = j.planes[w][:pg.len()]
		pg.fill(pl, img)
	}
	oh, ow, k, s := g.OutH(), g.OutW(), g.Cols(), g.Stride
	rows := j.cols[n*oh*ow*k : (n+1)*oh*ow*k]
	runs := j.runs[:g.C*g.KH]
	// Every window lies inside the planes: the last tap of the last run of
	// the last window is their last element at most.
	_ = pl[(oh-1)*s*pg.w+(ow-1)*s+runs[len(runs)-1]+g.KW-1]
	src := &pl[0]
	ks := j.ks
	vecRuns := ks != nil && ks.copyRuns != nil && g.KW <= runLanes // the kernel set's runs
	// With them, each row may spill into the next, which overwrites it (up
	// to a vector, and no further than that row); the image's last row,
	// nothing (another worker's image follows).
	spill := min(runLanes, k)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			if y == oh-1 && x == ow-1 {
				spill = 0
			}
			if vecRuns {
				ks.copyRuns(&rows[(y*ow+x)*k], at(src, y*s*pg.w+x*s), &runs[0], len(runs), g.KW, spill)
			} else {
				copyRunsGo(&rows[(y*ow+x)*k], at(src, y*s*pg.w+x*s), runs, g.KW)
			}
		}
	}
}

// copyRunsGo copies the runs of kw floats at src+runs[r] to dst, one after
// the other, 8 bytes at a time (the bits as they are): the kernel sets'
// copyRuns in Go.
func copyRunsGo(dst, src *float32, runs []int, kw int) {
	i := 0
	if kw == 5 {
		for _, o := range runs {
			*u64(dst, i) = *u64(src, o)
			*u64(dst, i+2) = *u64(src, o+2)
			*u32(dst, i+4) = *u32(src, o+4)
			i += 5
		}
		return
	}
	for _, o := range runs {
		t := 0
		for ; t+2 <= kw; t += 2 {
			*u64(dst, i+t) = *u64(src, o+t)
		}
		if t < kw {
			*u32(dst, i+t) = *u32(src, o+t)
		}
		i += kw
	}
}

// im2colRow writes one row of the column matrix, the window at (ih0, iw0)
// of image img, with zeros where it leaves the image: the reference loop
// that the im2col job is checked against.
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

// Im2Col writes the receptive fields of the NHWC batch x as the rows of
// cols (see nn.Backend.Im2Col).
func (b *Backend) Im2Col(cols, x nn.Buffer, g nn.ConvGeom) {
	cs, xs, ok := b.core.Im2ColArgs(cols, x, g)
	if !ok {
		return
	}
	b.conv.im2col = im2colJob{ks: b.kernels(), cols: cs, x: xs, g: g, planes: b.conv.planesFor(b.pool.workers, g), runs: b.conv.runOffsets(g)}
	b.runJob(&b.conv.im2col, len(cs))
}

// col2imJob sums the column matrix back into the input, one image per
// chunk: it adds each row's C·KH runs of KW floats into the worker's
// planes (cleared first), then drains them into the image. The rows are
// taken last to first, so that every input element receives its terms in
// the order of row's loops (kernel row, then column: a later window's tap
// has a smaller kh, or the same kh and a smaller kw), from +0 as row does:
// bitwise row's sums.
type col2imJob struct {
	ks       *kernelSet // its addRuns and addRunPairs, if any (else the Go loops)
	dx, cols []float32
	g        nn.ConvGeom
	planes   [][]float32 // per worker, planeGeom(g).len() floats at least
	runs     []int       // runOffsets(g)
}

func (j *col2imJob) chunks() (int, int) { return j.g.Batch, 0 }

func (j *col2imJob) do(w, phase, n int) {
	g, pg := j.g, planeGeom(j.g)
	img := j.dx[n*g.H*g.W*g.C : (n+1)*g.H*g.W*g.C]
	pl := j.planes[w][:pg.len()]
	clear(pl)
	oh, ow, k, s := g.OutH(), g.OutW(), g.Cols(), g.Stride
	rows := j.cols[n*oh*ow*k : (n+1)*oh*ow*k]
	runs := j.runs[:g.C*g.KH]
	_ = pl[(oh-1)*s*pg.w+(ow-1)*s+runs[len(runs)-1]+g.KW-1]
	dst := &pl[0]
	ks := j.ks
	vecRuns := ks != nil && ks.addRuns != nil && g.KW <= runLanes // the kernel set's runs
	vecPairs := vecRuns && s == 1 && g.KW < runLanes
	if vecRuns {
		_ = j.planes[w][:pg.len()+planeSlack] // the kernels' whole vectors stay inside
	}
	for y := oh - 1; y >= 0; y-- {
		x := ow - 1
		switch {
		case vecPairs:
			for ; x >= 1; x -= 2 {
				ks.addRunPairs(at(dst, y*pg.w+x-1), &rows[(y*ow+x-1)*k], &rows[(y*ow+x)*k], &runs[0], len(runs), g.KW)
			}
		case s == 1 && g.KW == 5:
			for ; x >= 1; x -= 2 {
				addRunPairs5(at(dst, y*pg.w+x-1), &rows[(y*ow+x-1)*k], &rows[(y*ow+x)*k], runs)
			}
		}
		for ; x >= 0; x-- {
			if vecRuns {
				ks.addRuns(at(dst, y*s*pg.w+x*s), &rows[(y*ow+x)*k], &runs[0], len(runs), g.KW)
			} else {
				addRunsGo(at(dst, y*s*pg.w+x*s), &rows[(y*ow+x)*k], runs, g.KW)
			}
		}
	}
	pg.drain(img, pl)
}

// addRunPairs5 is addRuns for two neighbouring windows of stride 1 and 5
// taps a run, hi (the right one, at dst+1) then lo (at dst): their runs
// overlap in 4 elements, which are loaded and stored once for both, each
// getting hi's term first, then lo's, as two addRuns calls would add them.
func addRunPairs5(dst, lo, hi *float32, runs []int) {
	for r, o := range runs {
		d := (*[6]float32)(unsafe.Pointer(at(dst, o)))
		a, b := (*[5]float32)(unsafe.Pointer(at(lo, 5*r))), (*[5]float32)(unsafe.Pointer(at(hi, 5*r)))
		d[0] += a[0]
		d[1] = d[1] + b[0] + a[1]
		d[2] = d[2] + b[1] + a[2]
		d[3] = d[3] + b[2] + a[3]
		d[4] = d[4] + b[3] + a[4]
		d[5] += b[4]
	}
}

// addRunsGo adds the floats of src, one run of kw after the other, into the
// runs at dst+runs[r]: copyRunsGo's adjoint, and the kernel sets' addRuns
// in Go.
func addRunsGo(dst, src *float32, runs []int, kw int) {
	if kw == 5 {
		for r, o := range runs {
			d := (*[5]float32)(unsafe.Pointer(at(dst, o)))
			s := (*[5]float32)(unsafe.Pointer(at(src, 5*r)))
			d[0] += s[0]
			d[1] += s[1]
			d[2] += s[2]
			d[3] += s[3]
			d[4] += s[4]
		}
		return
	}
	for r, o := range runs {
		for t := 0; t < kw; t++ {
			*at(dst, o+t) += *at(src, r*kw+t)
		}
	}
}

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
	b.conv.col2im = col2imJob{ks: b.kernels(), dx: ds, cols: cs, g: g, planes: b.conv.planesFor(b.pool.workers, g), runs: b.conv.runOffsets(g)}
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
	// The rows of in that the windows of a row write, asked for one row
	// of windows ahead (the first two at once): the stores then find their
	// lines in cache rather than each waiting for its own.
	rowBytes := min(g.Size, g.H) * g.W * g.C * 4
	prefetchRows := func(oy int) {
		if j.ks != nil && oy < oh {
			j.ks.prefetch((*uint8)(unsafe.Pointer(&in[oy*g.Stride*g.W*g.C])), min(rowBytes, 4*(len(in)-oy*g.Stride*g.W*g.C)))
		}
	}
	prefetchRows(0)
	for oy := 0; oy < oh; oy++ {
		prefetchRows(oy + 1)
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
