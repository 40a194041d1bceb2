package nn

import (
	"reflect"
	"testing"

	"github.com/mnist-go/mnist/nn/tfevents"
)

func TestSpecGraph(t *testing.T) {
	g := MLP(28, 28, []int{64, 32}, 10).Graph()
	var names []string
	shapes := map[string][]int64{}
	inputs := map[string][]string{}
	for _, n := range g.Nodes {
		names = append(names, n.Name)
		shapes[n.Name] = n.Shape
		inputs[n.Name] = n.Inputs
	}
	want := []string{
		"input/input",
		"Net/Sequential[model]/Flatten[0]/flatten",
		"Net/Sequential[model]/Linear[1]/weight", "Net/Sequential[model]/Linear[1]/bias", "Net/Sequential[model]/Linear[1]/linear",
		"Net/Sequential[model]/ReLU[2]/relu",
		"Net/Sequential[model]/Linear[3]/weight", "Net/Sequential[model]/Linear[3]/bias", "Net/Sequential[model]/Linear[3]/linear",
		"Net/Sequential[model]/ReLU[4]/relu",
		"Net/Sequential[model]/Linear[5]/weight", "Net/Sequential[model]/Linear[5]/bias", "Net/Sequential[model]/Linear[5]/linear",
		"output/output",
	}
	if _, err := tfevents.MarshalGraph(g); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("nodes\n%q\nwant\n%q", names, want)
	}
	for name, shape := range map[string][]int64{
		"input/input": {-1, 1, 28, 28},
		"Net/Sequential[model]/Flatten[0]/flatten": {-1, 784},
		"Net/Sequential[model]/Linear[1]/weight":   {64, 784},
		"Net/Sequential[model]/Linear[1]/linear":   {-1, 64},
		"output/output":                            {-1, 10},
	} {
		if !reflect.DeepEqual(shapes[name], shape) {
			t.Errorf("%s shape %v, want %v", name, shapes[name], shape)
		}
	}
	if in := inputs["Net/Sequential[model]/Linear[3]/linear"]; !reflect.DeepEqual(in, []string{
		"Net/Sequential[model]/ReLU[2]/relu", "Net/Sequential[model]/Linear[3]/weight", "Net/Sequential[model]/Linear[3]/bias"}) {
		t.Errorf("second linear takes %q", in)
	}
	cnn := CNN(32, 20, 47).Graph()
	if last := cnn.Nodes[len(cnn.Nodes)-1]; !reflect.DeepEqual(last.Shape, []int64{-1, 47}) {
		t.Errorf("cnn output shape %v, want [-1 47]", last.Shape)
	}
	if first := cnn.Nodes[1]; first.Name != "Net/Sequential[model]/Conv2d[0]/weight" || !reflect.DeepEqual(first.Shape, []int64{32, 1, 5, 5}) {
		t.Errorf("cnn's first parameter node %+v", first)
	}
}
