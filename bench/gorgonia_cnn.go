//go:build !cuda

package bench

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// cnnLayers builds the cnn (nn.CNN) in g the way gorgonia's documentation
// and its convnet example do: NCHW input, G.Conv2d (its Im2Col op and one
// matmul) with the kernel stored [out, in, kh, kw], the bias broadcast over
// batch and pixels, G.Rectify, G.MaxPool2D, a Reshape to flatten (NCHW
// order, as PyTorch's Flatten), then linear layers as in mlpLayers. It
// returns the logits.
func (r *gorgoniaRunner) cnnLayers(g *G.ExprGraph, n *gorgoniaNet) (*G.Node, error) {
	spec, rows := r.cfg.Spec, n.rows
	n.xv = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(rows, 1, spec.Rows, spec.Cols))
	n.x = G.NewTensor(g, G.Float32, 4, G.WithShape(rows, 1, spec.Rows, spec.Cols), G.WithName("x"), G.WithValue(n.xv))
	params := spec.Params()
	h := n.x
	var err error
	for i := 0; i < len(params); i += 2 {
		wp, bp := params[i], params[i+1]
		b := G.NewVector(g, G.Float32, G.WithName(bp.Name), G.WithValue(r.weights[i+1]))
		if len(wp.Shape) == 4 {
			// A convolution, then ReLU and a 2×2 max-pool, as nn.CNN has them.
			w := G.NewTensor(g, G.Float32, 4, G.WithName(wp.Name), G.WithValue(r.weights[i]))
			n.learn = append(n.learn, w, b)
			if h, err = G.Conv2d(h, w, tensor.Shape{wp.Shape[2], wp.Shape[3]}, []int{0, 0}, []int{1, 1}, []int{1, 1}); err != nil {
				return nil, fmt.Errorf("gorgonia: %s: %w", wp.Name, err)
			}
			b4, err := G.Reshape(b, tensor.Shape{1, wp.Shape[0], 1, 1})
			if err != nil {
				return nil, fmt.Errorf("gorgonia: %s: %w", bp.Name, err)
			}
			if h, err = G.BroadcastAdd(h, b4, nil, []byte{0, 2, 3}); err != nil {
				return nil, fmt.Errorf("gorgonia: %s: %w", bp.Name, err)
			}
			if h, err = G.Rectify(h); err != nil {
				return nil, fmt.Errorf("gorgonia: %s ReLU: %w", wp.Name, err)
			}
			if h, err = G.MaxPool2D(h, tensor.Shape{2, 2}, []int{0, 0}, []int{2, 2}); err != nil {
				return nil, fmt.Errorf("gorgonia: %s max-pool: %w", wp.Name, err)
			}
			continue
		}
		if h.Shape().Dims() != 2 {
			s := h.Shape()
			if h, err = G.Reshape(h, tensor.Shape{s[0], s[1] * s[2] * s[3]}); err != nil {
				return nil, fmt.Errorf("gorgonia: flatten: %w", err)
			}
		}
		w := G.NewMatrix(g, G.Float32, G.WithName(wp.Name), G.WithValue(r.weights[i]))
		n.learn = append(n.learn, w, b)
		// h is (rows, in), w is (in, out), b is (out): h·w + b, then ReLU but after the last layer.
		if h, err = G.Mul(h, w); err != nil {
			return nil, fmt.Errorf("gorgonia: %s: %w", wp.Name, err)
		}
		if h, err = G.BroadcastAdd(h, b, nil, []byte{0}); err != nil {
			return nil, fmt.Errorf("gorgonia: %s: %w", bp.Name, err)
		}
		if i+2 < len(params) {
			if h, err = G.Rectify(h); err != nil {
				return nil, fmt.Errorf("gorgonia: %s ReLU: %w", wp.Name, err)
			}
		}
	}
	return h, nil
}
