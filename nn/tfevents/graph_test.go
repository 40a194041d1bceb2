package tfevents

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testGraph is the tutorial's first layers as add_graph names them.
var testGraph = Graph{Nodes: []Node{
	{Name: "input/x", Op: "IO Node", Shape: []int64{-1, 1, 28, 28}},
	{Name: "MLP/Flatten[flatten]/flatten", Op: "aten::flatten", Inputs: []string{"input/x"}, Shape: []int64{-1, 784}},
	{Name: "MLP/Linear[fc1]/weight", Op: "prim::GetAttr", Shape: []int64{64, 784}},
	{Name: "MLP/Linear[fc1]/linear", Op: "aten::linear", Inputs: []string{"MLP/Flatten[flatten]/flatten", "MLP/Linear[fc1]/weight"},
		Shape: []int64{-1, 64}, Attr: "{ in_features : 784, out_features : 64 }"},
	{Name: "output/logits", Op: "IO Node", Inputs: []string{"MLP/Linear[fc1]/linear"}, Shape: []int64{-1, 64}},
}}

func TestGraphHistogramHParamsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := create(dir, config{now: fixedClock(time.Unix(1700000000, 0))})
	if err != nil {
		t.Fatal(err)
	}
	must(t, w.Graph(testGraph))
	weights := []float32{-1, -0.5, 0, 0.25, 0.5, 1, float32(math.NaN())}
	must(t, w.Histogram("fc1.weight", 3, weights))
	hp := map[string]any{"lr": 0.005, "optimizer": "sgd", "augment": false}
	must(t, w.HParams(hp, []string{"test/accuracy", "test/loss"}))
	must(t, w.HParamsEnd(StatusSuccess))
	must(t, w.Close())

	events, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	var graphs []*Graph
	var values []Value
	for _, e := range events {
		if e.Graph != nil {
			graphs = append(graphs, e.Graph)
		}
		values = append(values, e.Values...)
	}
	if len(graphs) != 1 || !reflect.DeepEqual(*graphs[0], testGraph) {
		t.Errorf("graphs = %+v, want %+v", graphs, testGraph)
	}
	if len(values) != 4 {
		t.Fatalf("%d values, want 4: %+v", len(values), values)
	}
	h := values[0].Histogram
	if values[0].Kind != KindHistogram || h == nil {
		t.Fatalf("first value %+v is not a histogram", values[0])
	}
	if h.Min != -1 || h.Max != 1 || h.Num != 6 || h.Sum != 0.25 || h.SumSquares != 1+0.25+0.0625+0.25+1 {
		t.Errorf("histogram min/max/num/sum/sumsq = %v %v %v %v %v", h.Min, h.Max, h.Num, h.Sum, h.SumSquares)
	}
	var count float64
	for i, c := range h.Bucket {
		count += c
		if i > 0 && h.BucketLimit[i] <= h.BucketLimit[i-1] {
			t.Errorf("bucket limits not ascending at %d: %v", i, h.BucketLimit)
		}
	}
	if count != 6 || len(h.Bucket) != HistogramBuckets || h.BucketLimit[len(h.BucketLimit)-1] != 1 {
		t.Errorf("%d buckets holding %v values, last limit %v", len(h.Bucket), count, h.BucketLimit[len(h.BucketLimit)-1])
	}
	if h.Bucket[0] != 1 || h.Bucket[len(h.Bucket)-1] != 1 || h.Bucket[HistogramBuckets/2] != 1 {
		t.Errorf("-1, 0 and 1 are not in the first, middle and last buckets: %v", h.Bucket)
	}

	exp, start, end := values[1].HParams, values[2].HParams, values[3].HParams
	for i, v := range values[1:] {
		if v.Kind != KindHParams || v.Plugin != "hparams" {
			t.Errorf("value %d = %+v, want hparams plugin data", i+1, v)
		}
	}
	if values[1].Tag != HParamsExperimentTag || values[2].Tag != HParamsStartTag || values[3].Tag != HParamsEndTag {
		t.Errorf("tags %q %q %q", values[1].Tag, values[2].Tag, values[3].Tag)
	}
	wantInfos := []HParamInfo{{"augment", HParamBool}, {"lr", HParamFloat64}, {"optimizer", HParamString}}
	if exp.Experiment == nil || !reflect.DeepEqual(exp.Experiment.HParams, wantInfos) ||
		!reflect.DeepEqual(exp.Experiment.Metrics, []string{"test/accuracy", "test/loss"}) || exp.Experiment.TimeCreated < 1700000000 {
		t.Errorf("experiment = %+v", exp.Experiment)
	}
	if start.Start == nil || !reflect.DeepEqual(start.Start.HParams, hp) || start.Start.StartTime < 1700000000 {
		t.Errorf("session start = %+v, want %v", start.Start, hp)
	}
	if end.End == nil || end.End.Status != StatusSuccess || end.End.EndTime <= start.Start.StartTime {
		t.Errorf("session end = %+v", end.End)
	}
}

func TestGraphRefusesDanglingInputs(t *testing.T) {
	for _, g := range []Graph{
		{Nodes: []Node{{Name: "a"}, {Name: "b", Inputs: []string{"c"}}}},
		{Nodes: []Node{{Name: "a"}, {Name: "a"}}},
		{Nodes: []Node{{Op: "x"}}},
	} {
		if _, err := MarshalGraph(g); err == nil || !strings.Contains(err.Error(), "graph node") {
			t.Errorf("MarshalGraph(%+v) = %v, want an error naming the node", g, err)
		}
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	if h := NewHistogram(nil); h.Num != 0 || len(h.Bucket) != 0 {
		t.Errorf("empty: %+v", h)
	}
	h := NewHistogram([]float32{2, 2, 2})
	if h.Min != 2 || h.Max != 2 || !reflect.DeepEqual(h.Bucket, []float64{3}) || !reflect.DeepEqual(h.BucketLimit, []float64{2}) {
		t.Errorf("constant: %+v", h)
	}
	if _, err := MarshalEvent(Event{Values: []Value{{Tag: "x", Kind: KindHParams, HParams: &HParamsData{Start: &HParamsStart{HParams: map[string]any{"n": 3}}}}}}); err == nil {
		t.Error("an int hyperparameter was encoded; want an error asking for float64")
	}
}
