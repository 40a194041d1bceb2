package tfevents

import (
	"errors"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// Histogram is a distribution of values as TensorBoard's Histograms and
// Distributions tabs read it (a HistogramProto). Bucket i counts the values
// from BucketLimit[i-1] (Min for the first) up to BucketLimit[i].
type Histogram struct {
	Min, Max   float64
	Num        float64 // how many values
	Sum        float64
	SumSquares float64
	// BucketLimit holds the buckets' upper edges, ascending; Bucket their
	// counts, one per limit.
	BucketLimit []float64
	Bucket      []float64
}

// HistogramBuckets is how many equal-width buckets NewHistogram spreads
// the values over: TensorBoard redraws any histogram with 30, so more only
// sharpens the Distributions tab's percentiles.
const HistogramBuckets = 64

// Field numbers of HistogramProto (proto/tfevents.proto).
const (
	histoMin         = 1
	histoMax         = 2
	histoNum         = 3
	histoSum         = 4
	histoSumSquares  = 5
	histoBucketLimit = 6
	histoBucket      = 7
)

// NewHistogram summarises values in HistogramBuckets equal buckets between
// their minimum and maximum (one bucket when they are all equal). NaNs and
// infinities are left out of the buckets, as numpy's histogram would refuse
// them; an empty or all-NaN slice gives an empty histogram.
func NewHistogram(values []float32) *Histogram {
	h := &Histogram{Min: math.Inf(1), Max: math.Inf(-1)}
	for _, v := range values {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		h.Num++
		h.Sum += x
		h.SumSquares += x * x
		h.Min, h.Max = min(h.Min, x), max(h.Max, x)
	}
	if h.Num == 0 {
		return &Histogram{}
	}
	n := HistogramBuckets
	if h.Max == h.Min {
		n = 1
	}
	width := (h.Max - h.Min) / float64(n)
	h.BucketLimit, h.Bucket = make([]float64, n), make([]float64, n)
	for i := range h.BucketLimit {
		h.BucketLimit[i] = h.Min + float64(i+1)*width
	}
	h.BucketLimit[n-1] = h.Max
	for _, v := range values {
		x := float64(v)
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		i := n - 1
		if width > 0 {
			i = min(int((x-h.Min)/width), n-1)
		}
		h.Bucket[i]++
	}
	return h
}

func appendHistogram(b []byte, h *Histogram) []byte {
	for _, f := range []struct {
		num protowire.Number
		v   float64
	}{{histoMin, h.Min}, {histoMax, h.Max}, {histoNum, h.Num}, {histoSum, h.Sum}, {histoSumSquares, h.SumSquares}} {
		if math.Float64bits(f.v) != 0 {
			b = protowire.AppendTag(b, f.num, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(f.v))
		}
	}
	b = appendPackedDoubles(b, histoBucketLimit, h.BucketLimit)
	return appendPackedDoubles(b, histoBucket, h.Bucket)
}

func appendPackedDoubles(b []byte, num protowire.Number, vs []float64) []byte {
	if len(vs) == 0 {
		return b
	}
	p := make([]byte, 0, 8*len(vs))
	for _, v := range vs {
		p = protowire.AppendFixed64(p, math.Float64bits(v))
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, p)
}

func decodeHistogram(b []byte) (*Histogram, error) {
	h := new(Histogram)
	err := eachField(b, func(f field) error {
		var err error
		switch {
		case f.typ == protowire.Fixed64Type:
			x := math.Float64frombits(f.u)
			switch f.num {
			case histoMin:
				h.Min = x
			case histoMax:
				h.Max = x
			case histoNum:
				h.Num = x
			case histoSum:
				h.Sum = x
			case histoSumSquares:
				h.SumSquares = x
			case histoBucketLimit:
				h.BucketLimit = append(h.BucketLimit, x)
			case histoBucket:
				h.Bucket = append(h.Bucket, x)
			}
		case f.typ == protowire.BytesType && f.num == histoBucketLimit:
			h.BucketLimit, err = consumePackedDoubles(h.BucketLimit, f.b)
		case f.typ == protowire.BytesType && f.num == histoBucket:
			h.Bucket, err = consumePackedDoubles(h.Bucket, f.b)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(h.Bucket) != len(h.BucketLimit) {
		return nil, errors.New("histogram has a different number of buckets and bucket limits")
	}
	return h, nil
}

func consumePackedDoubles(dst []float64, p []byte) ([]float64, error) {
	for len(p) > 0 {
		v, n := protowire.ConsumeFixed64(p)
		if n < 0 {
			return nil, errors.New("packed doubles: " + protowire.ParseError(n).Error())
		}
		dst, p = append(dst, math.Float64frombits(v)), p[n:]
	}
	return dst, nil
}

// Histogram writes the distribution of values (a layer's weights, say) at
// step.
func (w *Writer) Histogram(tag string, step int64, values []float32) error {
	return w.WriteEvent(Event{Step: step, Values: []Value{{Tag: tag, Kind: KindHistogram, Histogram: NewHistogram(values)}}})
}
