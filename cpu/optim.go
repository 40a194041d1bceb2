package cpu

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// optJob runs an optimiser update elementwise, split by ranges.
type optJob struct {
	adam          bool
	p, g, v, m    []float32
	lr, mom, wd   float32
	nesterov      bool
	b1, b2, eps   float32
	step, bc2sqrt float32 // Adam: lr/(1-β1^t) and sqrt(1-β2^t)
}

func (j *optJob) chunks() (int, int) { return chunkCount(len(j.p), elemsPerChunk), 0 }

func (j *optJob) do(w, phase, c int) {
	lo, hi := chunkRange(c, len(j.p), elemsPerChunk)
	p, g := j.p[lo:hi], j.g[lo:hi]
	g = g[:len(p)]
	switch {
	case j.adam:
		m, v := j.m[lo:hi], j.v[lo:hi]
		m, v = m[:len(p)], v[:len(p)]
		for i := range p {
			gi := g[i] + j.wd*p[i]
			mi := j.b1*m[i] + (1-j.b1)*gi
			vi := j.b2*v[i] + (1-j.b2)*gi*gi
			m[i], v[i] = mi, vi
			denom := float32(math.Sqrt(float64(vi)))/j.bc2sqrt + j.eps
			p[i] -= j.step * (mi / denom)
		}
	case j.mom == 0 && j.wd == 0:
		// The tutorial's plain SGD.
		for i := range p {
			p[i] -= j.lr * g[i]
		}
	case j.mom == 0:
		for i := range p {
			p[i] -= j.lr * (g[i] + j.wd*p[i])
		}
	default:
		v := j.v[lo:hi]
		v = v[:len(p)]
		for i := range p {
			gi := g[i] + j.wd*p[i]
			vi := j.mom*v[i] + gi
			v[i] = vi
			if j.nesterov {
				gi += j.mom * vi
			} else {
				gi = vi
			}
			p[i] -= j.lr * gi
		}
	}
}

// SGD updates params in place as torch.optim.SGD does (dampening 0):
//
//	g = grad + weightDecay·p
//	v = momentum·v + g                        (momentum ≠ 0)
//	g = nesterov ? g + momentum·v : v         (momentum ≠ 0)
//	p = p - lr·g
func (b *Backend) SGD(params, grads, velocity nn.Buffer, lr, momentum, weightDecay float32, nesterov bool) {
	const op = "SGD"
	if !b.core.Ready(op) {
		return
	}
	ps := b.core.Whole(op, "params", params)
	if b.core.Err() != nil {
		return
	}
	n := len(ps)
	gs := b.core.Exact(op, "grads", grads, n, "len(params)")
	var vs []float32
	if momentum != 0 {
		vs = b.core.Exact(op, "velocity", velocity, n, "len(params)")
	}
	if b.core.Err() != nil {
		return
	}
	if ks := b.kernels(); ks.simd() && momentum == 0 && weightDecay == 0 {
		// The tutorial's plain SGD: a few microseconds in SIMD, on this
		// thread (the parameters stay in its cache for the next step).
		b.prefetchAhead()
		ks.sgdAll(ps, gs, lr)
		return
	}
	b.optJob = optJob{p: ps, g: gs, v: vs, lr: lr, mom: momentum, wd: weightDecay, nesterov: nesterov}
	b.runJob(&b.optJob, n)
}

// Adam updates params in place as torch.optim.Adam does (amsgrad off):
//
//	g = grad + weightDecay·p
//	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//	p = p - (lr/(1-β1^t))·m / (sqrt(v)/sqrt(1-β2^t) + eps)
func (b *Backend) Adam(params, grads, m, v nn.Buffer, lr, beta1, beta2, eps, weightDecay float32, t int) {
	const op = "Adam"
	if !b.core.Ready(op) {
		return
	}
	if t < 1 {
		b.core.Fail(op, "step t = %d; it counts this update and starts at 1", t)
		return
	}
	ps := b.core.Whole(op, "params", params)
	if b.core.Err() != nil {
		return
	}
	n := len(ps)
	gs := b.core.Exact(op, "grads", grads, n, "len(params)")
	ms := b.core.Exact(op, "m", m, n, "len(params)")
	vs := b.core.Exact(op, "v", v, n, "len(params)")
	if b.core.Err() != nil {
		return
	}
	bc1 := 1 - math.Pow(float64(beta1), float64(t))
	bc2 := 1 - math.Pow(float64(beta2), float64(t))
	b.optJob = optJob{adam: true, p: ps, g: gs, m: ms, v: vs, wd: weightDecay, b1: beta1, b2: beta2, eps: eps,
		step: float32(float64(lr) / bc1), bc2sqrt: float32(math.Sqrt(bc2))}
	b.runJob(&b.optJob, n)
}
