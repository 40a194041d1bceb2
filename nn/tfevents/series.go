package tfevents

import "sort"

// Point is one sample of a scalar series.
type Point struct {
	Step     int64
	WallTime float64
	Value    float64
}

// Scalars returns the scalar values tagged tag, in the order they appear in
// events (which for one writer is the order they were written).
func Scalars(events []Event, tag string) []Point {
	var pts []Point
	for _, e := range events {
		for _, v := range e.Values {
			if v.Tag == tag && v.Kind == KindScalar {
				pts = append(pts, Point{Step: e.Step, WallTime: e.WallTime, Value: v.Scalar})
			}
		}
	}
	return pts
}

// Sample is one value with the step and time of the event that held it.
type Sample struct {
	Step     int64
	WallTime float64
	Value
}

// Values returns every value tagged tag, of any kind, in order; use it for
// images and text.
func Values(events []Event, tag string) []Sample {
	var out []Sample
	for _, e := range events {
		for _, v := range e.Values {
			if v.Tag == tag {
				out = append(out, Sample{Step: e.Step, WallTime: e.WallTime, Value: v})
			}
		}
	}
	return out
}

// Tags returns the kind of every tag in events, keyed by tag. A tag seen
// with several kinds keeps the first.
func Tags(events []Event) map[string]Kind {
	tags := map[string]Kind{}
	for _, e := range events {
		for _, v := range e.Values {
			if _, ok := tags[v.Tag]; !ok {
				tags[v.Tag] = v.Kind
			}
		}
	}
	return tags
}

// SortedTags returns the tags of kind k in events, sorted.
func SortedTags(events []Event, k Kind) []string {
	var out []string
	for tag, kind := range Tags(events) {
		if kind == k {
			out = append(out, tag)
		}
	}
	sort.Strings(out)
	return out
}
