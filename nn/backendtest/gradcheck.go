package backendtest

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// testGradientCheck checks the gradients that Backward computes from the
// backend's ops (Gemm with transposes and masks, ColumnSums, softmax
// cross-entropy) against central differences, for every weight, bias and
// input of a small network:
//
//   - of the float64 host definition of the loss (hostLoss), with step 1e-4:
//     truncation and rounding are then below 1e-8, so the comparison is as
//     tight as the backend's float32 arithmetic allows: 2e-5 relative + 1e-6
//     (the pure-Go backends stay within a hundredth of that);
//   - of the loss the backend itself computes (float32), with step 1e-2,
//     where truncation and rounding limit agreement to 2e-4 relative + 1e-4.
//
// Coordinates whose perturbation flips a ReLU are skipped (the loss has a
// kink there); the test fails if more than a quarter are.
func (s *suite) testGradientCheck(t *testing.T) {
	x := s.backend(t)
	sizes := []int{6, 5, 4, 3}
	const batch = 4
	m, err := NewMLP(x.b, sizes, batch)
	if err != nil {
		t.Fatal(err)
	}
	r := newRand(40)
	params := m.InitParams(41)
	for i := range params { // larger weights than the default, so that every layer matters
		params[i] *= 2
	}
	input := normals(r, batch*sizes[0], 1)
	labels := []int32{0, 2, 1, 2}
	if err := m.SetParams(params); err != nil {
		t.Fatal(err)
	}
	x.put(m.Act[0], input)
	x.put(m.Labels, labels)
	m.Forward()
	m.Backward(true)
	x.sync()
	n := m.NumParams()
	grads := x.f32(m.Grads, n)
	dx := x.f32(m.DAct[0], batch*sizes[0])

	p64, x64 := widen(params), widen(input)
	hl, _ := hostLoss(sizes, p64, x64, labels, batch)
	closeTo(t, "backend loss vs float64 definition", x.f32(m.Loss, 1), []float32{float32(hl)}, 1, tolerance{atol: 1e-6, rtol: 1e-5})

	// backendLoss is the loss the backend computes for params p and input in.
	backendLoss := func(p, in []float32) float64 {
		if err := m.SetParams(p); err != nil {
			t.Fatal(err)
		}
		x.put(m.Act[0], in)
		m.Forward()
		m.LossOnly()
		return float64(x.f32(m.Loss, 1)[0])
	}

	var coords []gradCoord
	for l := 0; l+1 < len(sizes); l++ {
		in, out := sizes[l], sizes[l+1]
		off := 0
		for k := 0; k < l; k++ {
			off += sizes[k+1]*sizes[k] + sizes[k+1]
		}
		for i := range out * in {
			coords = append(coords, gradCoord{fmt.Sprintf("W%d[%d,%d]", l, i/in, i%in), grads[off+i], false, off + i})
		}
		for i := range out {
			coords = append(coords, gradCoord{fmt.Sprintf("b%d[%d]", l, i), grads[off+out*in+i], false, off + out*in + i})
		}
	}
	for i := range dx {
		coords = append(coords, gradCoord{fmt.Sprintf("x[%d,%d]", i/sizes[0], i%sizes[0]), dx[i], true, i})
	}

	skipped := 0
	for _, c := range coords {
		if !checkHostDifference(t, c, p64, x64, func(p, x []float64) (float64, []bool) {
			return hostLoss(sizes, p, x, labels, batch)
		}) {
			skipped++
			continue
		}

		// Central difference of the backend's own float32 loss.
		const hb = 1e-2
		p, in := slices.Clone(params), slices.Clone(input)
		v := p
		if c.isInput {
			v = in
		}
		base := v[c.index]
		v[c.index] = base + hb
		up := float64(v[c.index])
		lp32 := backendLoss(p, in)
		v[c.index] = base - hb
		down := float64(v[c.index])
		lm32 := backendLoss(p, in)
		fd32 := (lp32 - lm32) / (up - down)
		if d := math.Abs(float64(c.analytic) - fd32); d > 1e-4+2e-4*math.Abs(fd32) {
			// The wider step may cross a kink that the host check did not.
			pu, xu := perturbed(params, input, c, up)
			pd, xd := perturbed(params, input, c, down)
			_, pp := hostLoss(sizes, pu, xu, labels, batch)
			_, pm := hostLoss(sizes, pd, xd, labels, batch)
			if slices.Equal(pp, pm) {
				t.Errorf("%s: backend gradient %.8g, central difference of the backend's loss %.8g (|diff| %.3g)", c.name, c.analytic, fd32, d)
			}
		}
	}
	if skipped > len(coords)/4 {
		t.Errorf("%d of %d coordinates sit on a ReLU kink; the check proves little", skipped, len(coords))
	}
	t.Logf("checked %d of %d coordinates (%d on a kink)", len(coords)-skipped, len(coords), skipped)
	m.Free()
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// perturbed returns params and input in float64 with coordinate c set to v.
func perturbed(params, input []float32, c gradCoord, v float64) (p, x []float64) {
	p, x = widen(params), widen(input)
	if c.isInput {
		x[c.index] = v
	} else {
		p[c.index] = v
	}
	return p, x
}

// gradCoord is one coordinate the gradient check differentiates along: a
// parameter (index into Params) or an input element (index into Act[0]).
type gradCoord struct {
	name     string
	analytic float32 // the backend's gradient
	isInput  bool
	index    int
}

// checkHostDifference compares c's analytic gradient with the float64
// central difference (step 1e-4) of loss, a host loss of (params, x) that
// also returns its activation pattern (ReLU signs, pooling choices). It
// reports false, checking nothing, when the two sides' patterns differ:
// the step crossed a kink, where a difference proves nothing.
func checkHostDifference[P comparable](t *testing.T, c gradCoord, p64, x64 []float64, loss func(p, x []float64) (float64, []P)) bool {
	t.Helper()
	const h = 1e-4
	vec := p64
	if c.isInput {
		vec = x64
	}
	orig := vec[c.index]
	vec[c.index] = orig + h
	lp, patp := loss(p64, x64)
	vec[c.index] = orig - h
	lm, patm := loss(p64, x64)
	vec[c.index] = orig
	if !slices.Equal(patp, patm) {
		return false
	}
	fd := (lp - lm) / (2 * h)
	if d := math.Abs(float64(c.analytic) - fd); d > 1e-6+2e-5*math.Abs(fd) {
		t.Errorf("%s: backend gradient %.8g, float64 central difference %.8g (|diff| %.3g)", c.name, c.analytic, fd, d)
	}
	return true
}
