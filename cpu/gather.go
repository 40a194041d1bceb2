package cpu

import (
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/host"
)

// gatherJob copies rows of a uint8 data set into a float32 batch through a
// 256-entry table of the normalised byte values, split by rows.
type gatherJob struct {
	lut          [256]float32 // lut[v] = float32(v)·scale + shift, for scale and shift below
	lutValid     bool
	x            []float32
	images       []uint8
	order        []int32 // the batch's slice of the order
	pixels       int
	scale, shift float32
	touched      []paddedByte // per worker
	ks           *kernelSet   // SIMD conversion when ks.simd()

	// The next batch's images (the rows of order after this batch), which
	// the ops of the step prefetch a few at a time (prefetchAhead).
	ahead     []int32
	aheadImgs []uint8
}

// prefetchPerOp is how many images of the next batch each op prefetches:
// the dozen ops of a training step cover a batch of 64, and a few dozen
// cache lines at a time do not stall an op waiting for free miss buffers.
var prefetchPerOp = 6

// prefetchAhead asks the cache for a few more images of the next batch
// (see Gather). It is a hint: the order buffer may have changed since.
func (b *Backend) prefetchAhead() {
	j := &b.gather
	if len(j.ahead) == 0 {
		return
	}
	n := min(prefetchPerOp, len(j.ahead))
	for _, i := range j.ahead[:n] {
		if i >= 0 && j.pixels > 0 && (int(i)+1)*j.pixels <= len(j.aheadImgs) {
			j.ks.prefetch(&j.aheadImgs[int(i)*j.pixels], j.pixels)
		}
	}
	j.ahead = j.ahead[n:]
	if len(j.ahead) == 0 {
		j.aheadImgs = nil // do not keep the data set alive
	}
}

// paddedByte is a byte on a cache line of its own.
type paddedByte struct {
	v uint8
	_ [63]byte
}

// gatherRows is the rows per chunk: enough images for their cache misses
// to overlap.
const gatherRows = 16

func (j *gatherJob) chunks() (int, int) { return chunkCount(len(j.order), gatherRows), 0 }

func (j *gatherJob) do(w, phase, c int) {
	lo, hi := chunkRange(c, len(j.order), gatherRows)
	// The images are scattered over a data set much larger than the caches:
	// read one byte of every cache line of the chunk's images first, so that
	// their misses overlap instead of stalling the conversion one at a time.
	var touched uint8
	for r := lo; r < hi; r++ {
		i := int(j.order[r])
		src := j.images[i*j.pixels : (i+1)*j.pixels]
		for k := 0; k < len(src); k += 64 {
			touched |= src[k]
		}
	}
	j.touched[w].v = touched // keeps the reads; per worker, so no race
	if j.ks.simd() {
		for r := lo; r < hi; r++ {
			i := int(j.order[r])
			j.ks.bytesToF32All(j.x[r*j.pixels:(r+1)*j.pixels], j.images[i*j.pixels:(i+1)*j.pixels], j.scale, j.shift)
		}
		return
	}
	lut := &j.lut
	for r := lo; r < hi; r++ {
		i := int(j.order[r])
		src := j.images[i*j.pixels : (i+1)*j.pixels]
		dst := j.x[r*j.pixels : (r+1)*j.pixels]
		dst = dst[:len(src)]
		for k, v := range src {
			dst[k] = lut[v]
		}
	}
}

// Gather builds a batch from a uint8 data set: for r < rows, with i = order[start+r],
//
//	x[r,j] = float32(images[i·pixels+j])·scale + shift   (x is rows×pixels)
//	y[r]   = int32(labels[i])
func (b *Backend) Gather(x, y, images, labels, order nn.Buffer, start, rows, pixels int, scale, shift float32) {
	xs, os, imgs, ok := b.core.GatherArgs(x, y, images, labels, order, start, rows, pixels)
	if !ok {
		return
	}
	j := &b.gather
	if !j.lutValid || j.scale != scale || j.shift != shift {
		for v := range j.lut {
			j.lut[v] = float32(float32(v)*scale) + shift
		}
		j.lutValid = true
	}
	j.x, j.images, j.order, j.pixels, j.scale, j.shift = xs, imgs, os, pixels, scale, shift
	if len(j.touched) < b.pool.workers {
		j.touched = make([]paddedByte, b.pool.workers)
	}
	j.ks = b.kernels()
	j.ahead, j.aheadImgs = nil, nil
	if j.ks.simd() {
		// A batch converts in a microsecond or two; its cost is the cache
		// misses of images scattered over the data set. Convert on this
		// thread, and have the following ops fetch the next batch's images
		// (the next rows of order, if the buffer holds them) a few at a
		// time, so that they arrive while this step computes.
		runInline(j)
		if next := order.Len() - (start + rows); next > 0 && prefetchPerOp > 0 {
			all := order.(*host.Buffer).Int32s() // checked by GatherArgs
			j.ahead, j.aheadImgs = all[start+rows:start+rows+min(rows, next)], imgs
		}
		return
	}
	b.runJob(j, rows*pixels)
}
