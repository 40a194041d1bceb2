package cpu

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// optJob runs an optimiser update elementwise, split by ranges.
type optJob struct {
	ks            *kernelSet // Adam: its adam kernel for whole vectors, if SIMD
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
	j.update(lo, hi)
}

// update updates the elements [lo, hi): what SGD and Adam compute there,
// on the same kernels (each element's result does not depend on the range).
func (j *optJob) update(lo, hi int) {
	if ks := j.ks; ks != nil && ks.simd() && !j.adam && j.wd == 0 && (j.mom == 0 || !j.nesterov) {
		if j.mom == 0 {
			ks.sgdAll(j.p[lo:hi], j.g[lo:hi], j.lr)
		} else {
			ks.sgdMomentumAll(j.p[lo:hi], j.g[lo:hi], j.v[lo:hi], j.lr, j.mom)
		}
		return
	}
	p, g := j.p[lo:hi], j.g[lo:hi]
	g = g[:len(p)]
	// The loops read the hyperparameters from locals: through j, the
	// compiler would reload them after every store to p, v or m (which it
	// cannot prove do not alias j), and test nesterov every element.
	lr, mom, wd := j.lr, j.mom, j.wd
	switch {
	case j.adam:
		m, v := j.m[lo:hi], j.v[lo:hi]
		m, v = m[:len(p)], v[:len(p)]
		b1, b2, eps, step, bc2sqrt := j.b1, j.b2, j.eps, j.step, j.bc2sqrt
		if ks := j.ks; ks != nil && ks.simd() && len(p) >= ks.lanes {
			w := len(p) / ks.lanes * ks.lanes
			ks.adam(&p[0], &g[0], &m[0], &v[0], w, wd, b1, 1-b1, b2, 1-b2, bc2sqrt, eps, step)
			p, g, m, v = p[w:], g[w:], m[w:], v[w:]
		}
		// Every product is rounded on its own (float32(…)), so that arm64,
		// where Go fuses a*b+c into one FMA, computes what the SIMD kernels
		// and amd64 do: the same bits everywhere.
		for i := range p {
			gi := g[i] + float32(wd*p[i])
			mi := float32(b1*m[i]) + float32((1-b1)*gi)
			vi := float32(b2*v[i]) + float32(float32((1-b2)*gi)*gi)
			m[i], v[i] = mi, vi
			denom := float32(math.Sqrt(float64(vi)))/bc2sqrt + eps
			p[i] -= float32(step * (mi / denom))
		}
	case mom == 0 && wd == 0:
		// The tutorial's plain SGD.
		for i := range p {
			p[i] -= lr * g[i]
		}
	case mom == 0:
		for i := range p {
			p[i] -= lr * (g[i] + wd*p[i])
		}
	case j.nesterov:
		v := j.v[lo:hi]
		v = v[:len(p)]
		for i := range p {
			gi := g[i] + wd*p[i]
			vi := mom*v[i] + gi
			v[i] = vi
			p[i] -= lr * (gi + mom*vi)
		}
	case wd == 0:
		// The default recipe's momentum, as the SIMD kernel computes it.
		v := j.v[lo:hi]
		v = v[:len(p)]
		for i := range p {
			vi := mom*v[i] + g[i]
			v[i] = vi
			p[i] -= lr * vi
		}
	default:
		v := j.v[lo:hi]
		v = v[:len(p)]
		for i := range p {
			vi := mom*v[i] + (g[i] + wd*p[i])
			v[i] = vi
			p[i] -= lr * vi
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
	ps, gs, vs, ok := b.core.SGDArgs(params, grads, velocity, momentum)
	if !ok {
		return
	}
	if ks := b.kernels(); ks.simd() && weightDecay == 0 && (momentum == 0 || !nesterov) {
		b.prefetchAhead()
	}
	b.sgd(ps, gs, vs, lr, momentum, weightDecay, nesterov)
}

// sgd is SGD on checked slices (vs nil without momentum).
func (b *Backend) sgd(ps, gs, vs []float32, lr, momentum, weightDecay float32, nesterov bool) {
	n := len(ps)
	if ks := b.kernels(); ks.simd() && weightDecay == 0 && (momentum == 0 || !nesterov) {
		// The tutorial's plain SGD and the default recipe's momentum: a few
		// microseconds in SIMD, on this thread (the parameters stay in its
		// cache for the next step).
		if momentum == 0 {
			ks.sgdAll(ps, gs, lr)
		} else {
			ks.sgdMomentumAll(ps, gs, vs, lr, momentum)
		}
		return
	}
	b.optJob = optJob{p: ps, g: gs, v: vs, lr: lr, mom: momentum, wd: weightDecay, nesterov: nesterov}
	b.runJob(&b.optJob, n)
}

// optimizer returns the update of an optimiser configuration at learning
// rate lr and update number t, for optJob.update.
func (b *Backend) optimizer(cfg nn.OptimizerConfig, lr float32, t int, ps, gs []float32, state []nn.Buffer) optJob {
	cfg = cfg.WithDefaults()
	j := optJob{ks: b.kernels(), p: ps, g: gs, lr: lr, mom: cfg.Momentum, wd: cfg.WeightDecay, nesterov: cfg.Nesterov}
	switch {
	case cfg.Name == "adam":
		bc1 := 1 - math.Pow(float64(cfg.Beta1), float64(t))
		bc2 := 1 - math.Pow(float64(cfg.Beta2), float64(t))
		j.adam, j.b1, j.b2, j.eps = true, cfg.Beta1, cfg.Beta2, cfg.Eps
		j.step, j.bc2sqrt = float32(float64(lr)/bc1), float32(math.Sqrt(bc2))
		j.m, j.v = floats32(state[0]), floats32(state[1])
		j.mom = 0
	case cfg.Momentum != 0:
		j.v = floats32(state[0])
	}
	return j
}

// Adam updates params in place as torch.optim.Adam does (amsgrad off):
//
//	g = grad + weightDecay·p
//	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//	p = p - (lr/(1-β1^t))·m / (sqrt(v)/sqrt(1-β2^t) + eps)
func (b *Backend) Adam(params, grads, m, v nn.Buffer, lr, beta1, beta2, eps, weightDecay float32, t int) {
	ps, gs, ms, vs, step, bc2sqrt, ok := b.core.AdamArgs(params, grads, m, v, lr, beta1, beta2, t)
	if !ok {
		return
	}
	b.adam(ps, gs, ms, vs, beta1, beta2, eps, weightDecay, step, bc2sqrt)
}

// adam is Adam on checked slices, with step = lr/(1-β1^t) and bc2sqrt =
// sqrt(1-β2^t) (host.Core.AdamArgs).
func (b *Backend) adam(ps, gs, ms, vs []float32, beta1, beta2, eps, weightDecay, step, bc2sqrt float32) {
	b.optJob = optJob{ks: b.kernels(), adam: true, p: ps, g: gs, m: ms, v: vs, wd: weightDecay, b1: beta1, b2: beta2, eps: eps,
		step: step, bc2sqrt: bc2sqrt}
	b.runJob(&b.optJob, len(ps))
}
