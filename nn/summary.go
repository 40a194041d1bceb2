package nn

import (
	"fmt"
	"io"
	"strings"
)

// LayerSummary describes one layer of a network as PyTorch's module lists
// it: for the tutorial's MLP, Flatten, Linear, ReLU, Linear, ReLU, Linear.
type LayerSummary struct {
	Name   string // PyTorch module path, e.g. "model.1"
	Type   string // "Flatten", "Linear", "ReLU", "Conv2d", "MaxPool2d"
	Output []int  // output shape per sample, as PyTorch has it (C, H, W for images)
	Params int    // trainable parameters
	Detail string // e.g. "in=784 out=64"
}

// torchShape is a per-sample shape as PyTorch writes it: [C, H, W] for an
// image, [n] for a vector.
func torchShape(s shape) []int {
	if s.H == 1 && s.W == 1 {
		return []int{s.C}
	}
	return []int{s.C, s.H, s.W}
}

// Summary lists the layers of the network spec describes, input side first.
func (s Spec) Summary() []LayerSummary {
	var rows []LayerSummary
	for _, l := range s.layers() {
		r := LayerSummary{Name: fmt.Sprintf("model.%d", l.Index), Output: torchShape(l.Out)}
		switch l.Kind {
		case flattenLayer:
			r.Type = "Flatten"
			if l.In.C == 1 {
				r.Detail = fmt.Sprintf("%d×%d → %d", l.In.H, l.In.W, l.Out.C)
			} else {
				r.Detail = fmt.Sprintf("%d×%d×%d → %d", l.In.C, l.In.H, l.In.W, l.Out.C)
			}
		case linearLayer:
			r.Type, r.Detail = "Linear", fmt.Sprintf("in=%d out=%d", l.In.len(), l.Out.C)
		case convLayer:
			r.Type = "Conv2d"
			r.Detail = fmt.Sprintf("in=%d out=%d kernel=%d×%d stride=%d padding=%d", l.In.C, l.Out.C, l.Conv.KH, l.Conv.KW, l.Conv.Stride, l.Conv.Pad)
		case poolLayer:
			r.Type, r.Detail = "MaxPool2d", fmt.Sprintf("kernel=%d stride=%d", l.Pool.Size, l.Pool.Stride)
		}
		if l.hasParams() {
			r.Params = l.Weight.Size() + l.Bias.Size()
		}
		rows = append(rows, r)
		if l.ReLU {
			rows = append(rows, LayerSummary{Name: fmt.Sprintf("model.%d", l.Index+1), Type: "ReLU", Output: torchShape(l.Out)})
		}
	}
	return rows
}

// WriteSummary prints the layers as a table, like torchinfo: layer, output
// shape (with the batch as -1), parameters, and the total.
func (s Spec) WriteSummary(w io.Writer) {
	line := strings.Repeat("─", 64)
	fmt.Fprintf(w, "%s\n%-22s %-18s %12s\n%s\n", line, "Layer (type)", "Output shape", "Params", line)
	for _, l := range s.Summary() {
		fmt.Fprintf(w, "%-22s %-18s %12s\n", l.Name+" ("+l.Type+")", shapeString(l.Output), groupDigits(l.Params))
	}
	fmt.Fprintf(w, "%s\nTotal params: %s (%s KiB as float32)\n%s\n", line, groupDigits(s.NumParams()), groupDigits(s.NumParams()*4/1024), line)
}

// WriteDot writes the network as a Graphviz digraph, the view the tutorial
// gets from SummaryWriter.add_graph: `dot -Tpng` draws it.
func (s Spec) WriteDot(w io.Writer) {
	fmt.Fprintf(w, "digraph %q {\n\trankdir=TB;\n\tnode [shape=box, style=rounded, fontname=\"Helvetica\"];\n", s.String())
	fmt.Fprintf(w, "\tinput [label=\"input\\n%s\", shape=oval];\n", shapeString([]int{1, s.Rows, s.Cols}))
	prev := "input"
	for i, l := range s.Summary() {
		id := fmt.Sprintf("n%d", i)
		label := fmt.Sprintf("%s (%s)\\n%s", l.Name, l.Type, shapeString(l.Output))
		if l.Params > 0 {
			label += fmt.Sprintf("\\n%s params", groupDigits(l.Params))
		}
		fmt.Fprintf(w, "\t%s [label=\"%s\"];\n\t%s -> %s;\n", id, label, prev, id)
		prev = id
	}
	fmt.Fprintf(w, "\toutput [label=\"logits\\n%s\", shape=oval];\n\t%s -> output;\n}\n", shapeString([]int{s.Classes}), prev)
}

func shapeString(shape []int) string {
	parts := []string{"-1"}
	for _, d := range shape {
		parts = append(parts, fmt.Sprint(d))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// groupDigits writes n with thousands separators: 52650 → "52,650".
func groupDigits(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
