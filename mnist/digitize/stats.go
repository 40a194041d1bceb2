package digitize

import "math"

// histBins is the resolution of the histograms that estimate levels: finer
// than 8-bit input, and 8 KiB however large the image.
const histBins = 1024

// histogram counts values in [0, 1] (clamped) to estimate their quantiles in
// one pass and fixed memory, whatever the image size.
type histogram struct {
	n     [histBins]int
	total int
}

func (h *histogram) add(v float32) {
	i := int(v * histBins)
	i = max(0, min(i, histBins-1))
	h.n[i]++
	h.total++
}

// quantile returns the upper edge of the bin holding the q-th quantile
// (0 ≤ q ≤ 1), or 0 for an empty histogram. The upper edge makes the top
// bin's values, 8-bit white among them, come out as exactly 1.
func (h *histogram) quantile(q float64) float32 {
	if h.total == 0 {
		return 0
	}
	rank := int(q * float64(h.total-1)) // 0-based rank of the wanted value
	seen := 0
	for i, c := range h.n {
		seen += c
		if seen > rank {
			return float32(i+1) / histBins
		}
	}
	return 1
}

// ring calls f with every pixel index of the border of a w×h image that is
// r pixels wide, each once.
//
// A strip too thin to have an inside (w or h at most 2r: a stroke one pixel
// wide, cropped tight) is all border on its long sides, ink included; its
// paper is at its two ends, and ring visits those instead, 1/32 of the long
// side deep at each end.
func ring(w, h, r int, f func(i int)) {
	if thinX, thinY := w <= 2*r, h <= 2*r; thinX != thinY {
		if thinX { // tall: the top and bottom rows
			e := max(1, h/32)
			for y := range h {
				if y < e || y >= h-e {
					for x := range w {
						f(y*w + x)
					}
				}
			}
			return
		}
		e := max(1, w/32) // wide: the left and right columns
		for y := range h {
			for x := range w {
				if x < e || x >= w-e {
					f(y*w + x)
				}
			}
		}
		return
	}
	for y := range h {
		if y < r || y >= h-r {
			for x := range w {
				f(y*w + x)
			}
			continue
		}
		for x := range min(r, w) {
			f(y*w + x)
		}
		for x := max(w-r, r); x < w; x++ {
			f(y*w + x)
		}
	}
}

// ringWidth is how wide a border Digitize reads the paper from: 1/32 of the
// shorter side, at least a pixel (MNIST's 28×28 has a 4-pixel empty margin).
func ringWidth(w, h int) int { return max(1, min(w, h)/32) }

// paperModel is the paper's grey level over the image, a plane fitted to
// the border (level + slopeX·u + slopeY·v, with u, v pixel offsets from the
// image's centre) so that light falling unevenly across a photo is not taken
// for ink, and the noise around it.
type paperModel struct {
	level, slopeX, slopeY float64
	noise                 float32 // σ of the border's deviations from the plane, robustly
	cx, cy                float64 // the image's centre, in pixel indices
}

// at returns the paper's level at offset (u, v) from the centre.
func (p *paperModel) at(u, v float32) float32 {
	return float32(p.level) + float32(p.slopeX)*u + float32(p.slopeY)*v
}

// subtract replaces each pixel of g by its deviation from the paper, and
// sums the squares of the deviations beyond floor on each side.
func (p *paperModel) subtract(g []float32, w, h int, floor float32) (up, down float64) {
	col := make([]float32, w)
	for x := range col {
		col[x] = float32(p.slopeX * (float64(x) - p.cx))
	}
	for y := range h {
		base := float32(p.level + p.slopeY*(float64(y)-p.cy))
		row := g[y*w : (y+1)*w]
		var u, d float32 // per row, so that float32 sums stay exact enough
		for x, v := range row {
			v -= base + col[x]
			row[x] = v
			if v > floor {
				u += v * v
			} else if v < -floor {
				d += v * v
			}
		}
		up, down = up+float64(u), down+float64(d)
	}
	return up, down
}

// sample is a border pixel: its offset from the image's centre and level.
type sample struct{ u, v, g float32 }

// maxSamples bounds the border pixels the paper is fitted to: plenty for
// three parameters and a noise level, and a fixed cost for a large photo.
const maxSamples = 8192

// borderSamples returns the pixels of the border (every k-th of them when
// there are more than maxSamples).
func borderSamples(g []float32, w, h int) []sample {
	r := ringWidth(w, h)
	n := 0
	ring(w, h, r, func(int) { n++ })
	step := (n + maxSamples - 1) / maxSamples
	out := make([]sample, 0, min(n, maxSamples))
	cx, cy := float32(w-1)/2, float32(h-1)/2
	k := 0
	ring(w, h, r, func(i int) {
		if k%step == 0 {
			out = append(out, sample{float32(i%w) - cx, float32(i/w) - cy, g[i]})
		}
		k++
	})
	return out
}

// minPlaneSide is the shorter side below which the paper is taken as flat:
// a thin border says little about a slope.
const minPlaneSide = 16

// fitPaper estimates the paper from the image border, where the ink is the
// minority if it is there at all: the median level, then (on images large
// enough) a least-squares plane through the border pixels near it, refitted
// once without the pixels far from the first plane; and the noise around it.
func fitPaper(g []float32, w, h int) paperModel {
	border := borderSamples(g, w, h)
	p := paperModel{cx: float64(w-1) / 2, cy: float64(h-1) / 2}
	var hist histogram
	for _, s := range border {
		hist.add(s.g)
	}
	p.level = float64(hist.quantile(0.5)) - 0.5/histBins // the bin's centre
	p.noise = p.deviation(border)
	if min(w, h) >= minPlaneSide {
		for range 2 {
			tol := max(3*p.noise, 2.0/255)
			if q, ok := p.refit(border, tol); ok {
				q.noise = q.deviation(border)
				p = q
			}
		}
	}
	p.level = max(0, min(1, p.level))
	return p
}

// deviation estimates the noise σ of the border around the model from the
// spread of the deviations: the larger of the two half-spreads between
// the 10th percentile, the median and the 90th percentile, over 1.2816,
// which is σ for Gaussian noise. Taking the larger half copes with noise
// clipped on one side, as on overexposed white paper, where more than half
// the border is exactly white; the 10% tails see the skew of noise clipped
// per colour channel, which the quartiles underestimate.
func (p *paperModel) deviation(border []sample) float32 {
	var dev histogram
	for _, s := range border {
		dev.add(s.g - p.at(s.u, s.v) + 0.5)
	}
	q1, q2, q3 := dev.quantile(0.1), dev.quantile(0.5), dev.quantile(0.9) // upper bin edges: differences are exact in bins
	return max(q2-q1, q3-q2) / 1.2816
}

// refit fits a plane by least squares to the border pixels within tol of
// the model p. It fails when fewer than half of them remain.
func (p *paperModel) refit(border []sample, tol float32) (paperModel, bool) {
	// Normal equations for level + sx·u + sy·v: A·[level sx sy] = b.
	var a [3][3]float64
	var b [3]float64
	n := 0
	for _, s := range border {
		if d := s.g - p.at(s.u, s.v); d > tol || d < -tol {
			continue
		}
		f := [3]float64{1, float64(s.u), float64(s.v)}
		for j := range 3 {
			for k := range 3 {
				a[j][k] += f[j] * f[k]
			}
			b[j] += f[j] * float64(s.g)
		}
		n++
	}
	if 2*n < len(border) {
		return *p, false
	}
	sol, ok := solve3(a, b)
	if !ok {
		return *p, false
	}
	return paperModel{level: sol[0], slopeX: sol[1], slopeY: sol[2], cx: p.cx, cy: p.cy}, true
}

// solve3 solves a 3×3 linear system by Cramer's rule; ok is false when it is
// (nearly) singular.
func solve3(a [3][3]float64, b [3]float64) (x [3]float64, ok bool) {
	det := func(m [3][3]float64) float64 {
		return m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
			m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
			m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	}
	d := det(a)
	if scale := a[0][0] * a[1][1] * a[2][2]; !(math.Abs(d) > 1e-9*math.Abs(scale)) {
		return x, false
	}
	for c := range 3 {
		m := a
		for r := range 3 {
			m[r][c] = b[r]
		}
		x[c] = det(m) / d
	}
	return x, true
}
