package digitize

import "math"

// taps are the source pixels and weights that make one output pixel along
// one axis: out = Σ w[k]·src[first+k].
type taps struct {
	first int
	w     []float32
}

// axisTaps returns the taps for n output pixels along an axis of size pixels
// of the source, the output covering the source interval that starts at
// origin with scale output pixels per source pixel. Shrinking (scale < 1)
// averages the source over each output pixel's footprint (a box filter: no
// aliasing, and the ink's total is kept); enlarging interpolates linearly
// between the two nearest source pixel centres. Source pixels outside
// [0, size) are background (0) and get no tap.
func axisTaps(n, size int, origin, scale float64) []taps {
	out := make([]taps, n)
	for i := range out {
		a := origin + float64(i)/scale   // the output pixel's footprint in the source: [a, b)
		b := origin + float64(i+1)/scale //
		var t taps
		if scale < 1 {
			lo, hi := int(math.Floor(a)), int(math.Ceil(b))
			lo, hi = max(lo, 0), min(hi, size)
			for k := lo; k < hi; k++ {
				overlap := math.Min(b, float64(k+1)) - math.Max(a, float64(k))
				if overlap <= 0 {
					continue
				}
				if len(t.w) == 0 {
					t.first = k
				}
				for t.first+len(t.w) < k { // keep the taps contiguous
					t.w = append(t.w, 0)
				}
				t.w = append(t.w, float32(overlap*scale))
			}
		} else {
			u := (a+b)/2 - 0.5 // the output pixel's centre, in source pixel indices
			k := int(math.Floor(u))
			f := u - float64(k)
			for j, wt := range [2]float64{1 - f, f} {
				if s := k + j; s >= 0 && s < size && wt > 0 {
					if len(t.w) == 0 {
						t.first = s
					}
					t.w = append(t.w, float32(wt))
				}
			}
		}
		out[i] = t
	}
	return out
}

// resample computes the ow×oh image whose pixel (i, j) is Σ xt[i]·yt[j]
// over src (sw pixels wide): the separable filter, rows first. Each source
// row is filtered horizontally once, into one row of scratch, and added to
// the output rows whose taps include it, so that memory stays ow×(oh+1)
// whatever the source's height: a 1×4,000,000-pixel image shrinks through
// 4 million small rows, not a 4-million-row intermediate.
func resample(src []float32, sw int, xt, yt []taps) []float32 {
	ow, oh := len(xt), len(yt)
	out := make([]float32, ow*oh)
	row := make([]float32, ow)
	lo := 0 // the first output row whose taps may still include source row y
	for y := 0; y < len(src)/max(sw, 1); y++ {
		for lo < oh && yt[lo].first+len(yt[lo].w) <= y {
			lo++
		}
		if lo == oh {
			break
		}
		srow := src[y*sw : (y+1)*sw]
		filtered := false
		for j := lo; j < oh; j++ {
			t := yt[j]
			if len(t.w) == 0 || y < t.first || y >= t.first+len(t.w) {
				if len(t.w) > 0 && t.first > y {
					break // the taps start later and later: no later row needs y
				}
				continue
			}
			if !filtered {
				for i, xtap := range xt {
					var s float32
					for k, w := range xtap.w {
						s += w * srow[xtap.first+k]
					}
					row[i] = s
				}
				filtered = true
			}
			w := t.w[y-t.first]
			drow := out[j*ow : (j+1)*ow]
			for i, v := range row {
				drow[i] += w * v
			}
		}
	}
	return out
}
