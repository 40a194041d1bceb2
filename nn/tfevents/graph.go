package tfevents

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Graph is a model graph as TensorBoard's Graphs tab draws it: the
// GraphDef that PyTorch's SummaryWriter.add_graph writes, reduced to what
// that writer fills in. Nodes are grouped into boxes by the "/"-separated
// prefixes of their names ("MLP/Linear[fc1]/weight" sits in the box
// "Linear[fc1]" inside "MLP"), and an edge is labelled with the shape of the
// tensor its source produces.
type Graph struct {
	Nodes []Node
}

// Node is one operation (or input, or parameter) of a Graph.
type Node struct {
	Name   string   // unique, "/"-scoped: "MLP/Linear[fc1]/linear"
	Op     string   // "aten::linear", "prim::GetAttr", "IO Node", ...
	Inputs []string // names of the nodes whose outputs it takes
	// Shape is the shape of the node's output, -1 for a dimension of any
	// size (the batch); nil when unknown.
	Shape []int64
	// Attr is free text shown in the node's panel, as PyTorch writes its
	// "attr" attribute: "{ in_features : 784, out_features : 64 }".
	Attr string
}

// Field numbers from proto/graph.proto.
const (
	eventGraphDef = 4

	graphNode     = 1
	graphVersions = 4
	versionProd   = 1

	nodeName  = 1
	nodeOp    = 2
	nodeInput = 3
	nodeAttr  = 5

	mapKey   = 1
	mapValue = 2

	attrList = 1
	attrS    = 2

	listShape = 7

	shapeDim     = 2
	shapeDimSize = 1
)

// graphProducer is the GraphDef version PyTorch's add_graph writes.
const graphProducer = 22

// The attribute names PyTorch's add_graph sets on every node.
const (
	attrOutputShapes = "_output_shapes"
	attrText         = "attr"
)

// MarshalGraph returns the GraphDef encoding of g.
func MarshalGraph(g Graph) ([]byte, error) {
	seen := make(map[string]bool, len(g.Nodes))
	var b []byte
	for _, n := range g.Nodes {
		if n.Name == "" {
			return nil, errors.New("tfevents: graph node without a name")
		}
		if seen[n.Name] {
			return nil, fmt.Errorf("tfevents: graph node %q twice", n.Name)
		}
		seen[n.Name] = true
		b = protowire.AppendTag(b, graphNode, protowire.BytesType)
		b = protowire.AppendBytes(b, appendNode(nil, n))
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if !seen[in] {
				return nil, fmt.Errorf("tfevents: graph node %q takes %q, which is not in the graph", n.Name, in)
			}
		}
	}
	var v []byte
	v = appendInt(v, versionProd, graphProducer)
	b = protowire.AppendTag(b, graphVersions, protowire.BytesType)
	return protowire.AppendBytes(b, v), nil
}

func appendNode(b []byte, n Node) []byte {
	b = protowire.AppendTag(b, nodeName, protowire.BytesType)
	b = protowire.AppendString(b, n.Name)
	if n.Op != "" {
		b = protowire.AppendTag(b, nodeOp, protowire.BytesType)
		b = protowire.AppendString(b, n.Op)
	}
	for _, in := range n.Inputs {
		b = protowire.AppendTag(b, nodeInput, protowire.BytesType)
		b = protowire.AppendString(b, in)
	}
	if n.Shape != nil {
		// AttrValue{list: ListValue{shape: [TensorShapeProto{dim: ...}]}}
		var shape []byte
		for _, d := range n.Shape {
			var dim []byte
			dim = protowire.AppendTag(dim, shapeDimSize, protowire.VarintType)
			dim = protowire.AppendVarint(dim, uint64(d))
			shape = protowire.AppendTag(shape, shapeDim, protowire.BytesType)
			shape = protowire.AppendBytes(shape, dim)
		}
		var list []byte
		list = protowire.AppendTag(list, listShape, protowire.BytesType)
		list = protowire.AppendBytes(list, shape)
		var attr []byte
		attr = protowire.AppendTag(attr, attrList, protowire.BytesType)
		attr = protowire.AppendBytes(attr, list)
		b = appendAttr(b, attrOutputShapes, attr)
	}
	if n.Attr != "" {
		var attr []byte
		attr = protowire.AppendTag(attr, attrS, protowire.BytesType)
		attr = protowire.AppendString(attr, n.Attr)
		b = appendAttr(b, attrText, attr)
	}
	return b
}

// appendAttr appends one entry of NodeDef's map<string, AttrValue> attr.
func appendAttr(b []byte, key string, value []byte) []byte {
	var e []byte
	e = protowire.AppendTag(e, mapKey, protowire.BytesType)
	e = protowire.AppendString(e, key)
	e = protowire.AppendTag(e, mapValue, protowire.BytesType)
	e = protowire.AppendBytes(e, value)
	b = protowire.AppendTag(b, nodeAttr, protowire.BytesType)
	return protowire.AppendBytes(b, e)
}

// UnmarshalGraph decodes a GraphDef into the parts Graph holds.
func UnmarshalGraph(b []byte) (*Graph, error) {
	g := new(Graph)
	err := eachField(b, func(f field) error {
		if f.num != graphNode || f.typ != protowire.BytesType {
			return nil
		}
		n, err := decodeNode(f.b)
		if err != nil {
			return fmt.Errorf("graph node %d: %w", len(g.Nodes), err)
		}
		g.Nodes = append(g.Nodes, n)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func decodeNode(b []byte) (Node, error) {
	var n Node
	err := eachField(b, func(f field) error {
		if f.typ != protowire.BytesType {
			return nil
		}
		switch f.num {
		case nodeName:
			n.Name = string(f.b)
		case nodeOp:
			n.Op = string(f.b)
		case nodeInput:
			n.Inputs = append(n.Inputs, string(f.b))
		case nodeAttr:
			var key string
			var value []byte
			err := eachField(f.b, func(f field) error {
				switch {
				case f.num == mapKey && f.typ == protowire.BytesType:
					key = string(f.b)
				case f.num == mapValue && f.typ == protowire.BytesType:
					value = f.b
				}
				return nil
			})
			if err != nil {
				return err
			}
			return decodeAttr(&n, key, value)
		}
		return nil
	})
	return n, err
}

// decodeAttr fills in the node attributes PyTorch writes: the first output
// shape and the "attr" text.
func decodeAttr(n *Node, key string, value []byte) error {
	return eachField(value, func(f field) error {
		switch {
		case key == attrText && f.num == attrS && f.typ == protowire.BytesType:
			n.Attr = string(f.b)
		case key == attrOutputShapes && f.num == attrList && f.typ == protowire.BytesType:
			return eachField(f.b, func(f field) error {
				if f.num != listShape || f.typ != protowire.BytesType || n.Shape != nil {
					return nil
				}
				n.Shape = []int64{}
				return eachField(f.b, func(f field) error {
					if f.num != shapeDim || f.typ != protowire.BytesType {
						return nil
					}
					var size int64
					err := eachField(f.b, func(f field) error {
						if f.num == shapeDimSize && f.typ == protowire.VarintType {
							size = int64(f.u)
						}
						return nil
					})
					n.Shape = append(n.Shape, size)
					return err
				})
			})
		}
		return nil
	})
}

// Graph writes g as the run's graph (an event holding a graph_def). Write
// it once per run: TensorBoard shows the last one a run holds.
func (w *Writer) Graph(g Graph) error {
	return w.WriteEvent(Event{Graph: &g})
}
