package nn

import "fmt"

// backendNet is the forward pass of one sample on a backend, for a
// Classifier built WithBackend: Model.Forward's ops at batch 1, but with
// each weight matrix uploaded transposed, [In, Out] (a convolution's as
// [C·KH·KW, Out]), so that every GEMM reads B as it lies rather than
// transposing the weights for each image (a third of a cnn image's time
// on the cpu backend), and with no gradients or pooling positions.
type backendNet struct {
	b      Backend
	layers []layer
	acts   []Buffer // acts[i] is layer i's output; nil for a flatten
	cols   []Buffer // conv layers: the column matrix of the input
	wt     []Buffer // layers with parameters: the weights, transposed
	bias   []Buffer
	owned  []Buffer // what close frees
}

func newBackendNet(b Backend, layers []layer, params []float32) (*backendNet, error) {
	k := len(layers)
	n := &backendNet{b: b, layers: layers, acts: make([]Buffer, k), cols: make([]Buffer, k), wt: make([]Buffer, k), bias: make([]Buffer, k)}
	for i, l := range layers {
		if l.Kind == flattenLayer {
			continue
		}
		var err error
		if n.acts[i], err = n.alloc(l.Out.len(), i, "activations"); err != nil {
			return nil, err
		}
		if l.Kind == convLayer {
			g := l.Conv
			g.Batch = 1
			if n.cols[i], err = n.alloc(g.Rows()*g.Cols(), i, "column matrix"); err != nil {
				return nil, err
			}
		}
		if !l.hasParams() {
			continue
		}
		w := params[l.Weight.Offset : l.Weight.Offset+l.Weight.Size()] // [Out, In]
		out, in := l.Out.C, l.Weight.Size()/l.Out.C
		t := make([]float32, len(w))
		for o := 0; o < out; o++ {
			for j := 0; j < in; j++ {
				t[j*out+o] = w[o*in+j]
			}
		}
		if n.wt[i], err = n.upload(t, i, "weights"); err != nil {
			return nil, err
		}
		if n.bias[i], err = n.upload(params[l.Bias.Offset:l.Bias.Offset+l.Bias.Size()], i, "biases"); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n *backendNet) alloc(size, layer int, what string) (Buffer, error) {
	buf, err := n.b.Alloc(Float32, size)
	if err != nil {
		n.close()
		return nil, fmt.Errorf("allocate layer %d %s (%d floats): %w", layer+1, what, size, err)
	}
	n.owned = append(n.owned, buf)
	return buf, nil
}

func (n *backendNet) upload(src []float32, layer int, what string) (Buffer, error) {
	buf, err := n.alloc(len(src), layer, what)
	if err != nil {
		return nil, err
	}
	if err := n.b.Upload(buf, src); err != nil {
		n.close()
		return nil, fmt.Errorf("upload layer %d %s: %w", layer+1, what, err)
	}
	return buf, nil
}

// forward queues the layers' ops on the sample x (the inputs of one
// image) and returns the buffer of its logits.
func (n *backendNet) forward(x Buffer) Buffer {
	in := x
	for i, l := range n.layers {
		out := n.acts[i]
		switch l.Kind {
		case flattenLayer:
			continue
		case linearLayer:
			// in is (1, In), wt is (In, Out): out = in·wt + bias.
			n.b.Gemm(Gemm{M: 1, N: l.Out.C, K: l.In.len(), Alpha: 1, A: in, B: n.wt[i], C: out, Bias: n.bias[i], ReLU: l.ReLU})
		case convLayer:
			// cols is (OH·OW, C·KH·KW), wt is (C·KH·KW, Out): out = cols·wt + bias.
			g := l.Conv
			g.Batch = 1
			n.b.Im2Col(n.cols[i], in, g)
			n.b.Gemm(Gemm{M: g.Rows(), N: l.Out.C, K: g.Cols(), Alpha: 1, A: n.cols[i], B: n.wt[i], C: out, Bias: n.bias[i], ReLU: l.ReLU})
		case poolLayer:
			g := l.Pool
			g.Batch = 1
			n.b.MaxPool2D(out, nil, in, g)
		}
		in = out
	}
	return in
}

// close frees the net's buffers.
func (n *backendNet) close() {
	for _, buf := range n.owned {
		n.b.Free(buf)
	}
	n.owned = nil
}
