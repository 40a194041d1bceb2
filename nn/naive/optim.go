package naive

import (
	"math"

	"github.com/mnist-go/mnist/nn"
)

// SGD updates params in place as torch.optim.SGD does (dampening 0), one
// element at a time in float32:
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
	for i := range ps {
		p := ps[i]
		g := gs[i] + float32(weightDecay*p)
		if momentum != 0 {
			v := float32(momentum*vs[i]) + g
			vs[i] = v
			if nesterov {
				g += float32(momentum * v)
			} else {
				g = v
			}
		}
		ps[i] = p - float32(lr*g)
	}
}

// Adam updates params in place as torch.optim.Adam does (amsgrad off), with
// the bias corrections computed in float64 and the update in float32:
//
//	g = grad + weightDecay·p
//	m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//	p = p - (lr/(1-β1^t))·m / (sqrt(v)/sqrt(1-β2^t) + eps)
func (b *Backend) Adam(params, grads, m, v nn.Buffer, lr, beta1, beta2, eps, weightDecay float32, t int) {
	ps, gs, ms, vs, step, bc2sqrt, ok := b.core.AdamArgs(params, grads, m, v, lr, beta1, beta2, t)
	if !ok {
		return
	}
	for i := range ps {
		g := gs[i] + float32(weightDecay*ps[i])
		mi := float32(beta1*ms[i]) + float32((1-beta1)*g)
		vi := float32(beta2*vs[i]) + float32(float32((1-beta2)*g)*g)
		ms[i], vs[i] = mi, vi
		denom := float32(float32(math.Sqrt(float64(vi)))/bc2sqrt) + eps
		ps[i] -= float32(step * float32(mi/denom))
	}
}
