package nn

import (
	"fmt"
	"strings"

	"github.com/mnist-go/mnist/nn/tfevents"
)

// graphScope is the scope PyTorch's add_graph gives the layers of the
// tutorial's module: its class (Net) and the nn.Sequential attribute
// (model) that holds the layers, whose state_dict keys are model.N.*.
const graphScope = "Net/Sequential[model]"

// torchOps maps a layer type to the ATen operation PyTorch's tracer records
// for it; a type not listed becomes aten::<type in lower case>.
var torchOps = map[string]string{
	"Flatten":     "aten::flatten",
	"Linear":      "aten::linear",
	"ReLU":        "aten::relu",
	"Conv2d":      "aten::_convolution",
	"MaxPool2d":   "aten::max_pool2d",
	"Dropout":     "aten::dropout",
	"BatchNorm1d": "aten::batch_norm",
	"BatchNorm2d": "aten::batch_norm",
}

// Graph returns the network as the graph TensorBoard's Graphs tab draws
// from PyTorch's SummaryWriter.add_graph(model, images): an input node, one
// box per layer named like the module (Net/Sequential[model]/Linear[1])
// holding its operation and its parameters, and an output node, each with
// the shape it produces (-1 for the batch).
func (s Spec) Graph() tfevents.Graph {
	params := s.Params()
	nodes := []tfevents.Node{{Name: "input/input", Op: "IO Node", Shape: []int64{-1, 1, int64(s.Rows), int64(s.Cols)}}}
	prev := nodes[0].Name
	for _, l := range s.Summary() {
		index := strings.TrimPrefix(l.Name, "model.")
		scope := fmt.Sprintf("%s/%s[%s]", graphScope, l.Type, index)
		op, ok := torchOps[l.Type]
		if !ok {
			op = "aten::" + strings.ToLower(l.Type)
		}
		inputs := []string{prev}
		for _, p := range params {
			if name, ok := strings.CutPrefix(p.Name, l.Name+"."); ok {
				node := tfevents.Node{Name: scope + "/" + name, Op: "prim::GetAttr", Shape: int64s(p.Shape), Attr: p.Name}
				nodes = append(nodes, node)
				inputs = append(inputs, node.Name)
			}
		}
		name := scope + "/" + strings.TrimPrefix(op, "aten::")
		shape := append([]int64{-1}, int64s(l.Output)...)
		nodes = append(nodes, tfevents.Node{Name: name, Op: op, Inputs: inputs, Shape: shape, Attr: l.Detail})
		prev = name
	}
	nodes = append(nodes, tfevents.Node{Name: "output/output", Op: "IO Node", Inputs: []string{prev}, Shape: []int64{-1, int64(s.Classes)}})
	return tfevents.Graph{Nodes: nodes}
}

func int64s(v []int) []int64 {
	out := make([]int64, len(v))
	for i, x := range v {
		out[i] = int64(x)
	}
	return out
}
