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
// over src (sw pixels wide): the separable filter, rows first.
func resample(src []float32, sw int, xt, yt []taps) []float32 {
	ow, oh := len(xt), len(yt)
	// The source rows the output needs.
	lo, hi := math.MaxInt, -1
	for _, t := range yt {
		if len(t.w) > 0 {
			lo, hi = min(lo, t.first), max(hi, t.first+len(t.w))
		}
	}
	out := make([]float32, ow*oh)
	if hi < 0 {
		return out
	}
	rows := make([]float32, (hi-lo)*ow) // source rows lo..hi, filtered horizontally
	for y := lo; y < hi; y++ {
		srow := src[y*sw : (y+1)*sw]
		drow := rows[(y-lo)*ow : (y-lo+1)*ow]
		for i, t := range xt {
			var s float32
			for k, w := range t.w {
				s += w * srow[t.first+k]
			}
			drow[i] = s
		}
	}
	for j, t := range yt {
		drow := out[j*ow : (j+1)*ow]
		for k, w := range t.w {
			srow := rows[(t.first+k-lo)*ow : (t.first+k-lo+1)*ow]
			for i, v := range srow {
				drow[i] += w * v
			}
		}
	}
	return out
}
