package naive

import "github.com/mnist-go/mnist/nn"

// Gemm computes g.C as nn.Gemm describes, one float64 dot product per element:
//
//	C[i,j] = Alpha·Σ_k op(A)[i,k]·op(B)[k,j] + Beta·C[i,j]   (Beta·C dropped when Beta is 0)
//	C[i,j] += Bias[j];  C[i,j] = max(C[i,j], 0);  C[i,j] = 0 unless Mask[i,j] > 0
func (b *Backend) Gemm(g nn.Gemm) {
	a, bm, c, bias, mask, ok := b.core.GemmArgs(g)
	if !ok {
		return
	}
	m, n, k := g.M, g.N, g.K

	// opA(i, p) is op(A)[i,p]; opB(p, j) is op(B)[p,j].
	opA := func(i, p int) float64 {
		if g.TransA {
			return float64(a[p*m+i])
		}
		return float64(a[i*k+p])
	}
	opB := func(p, j int) float64 {
		if g.TransB {
			return float64(bm[j*k+p])
		}
		return float64(bm[p*n+j])
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var dot float64
			for p := 0; p < k; p++ {
				dot += opA(i, p) * opB(p, j)
			}
			v := float64(g.Alpha) * dot
			if g.Beta != 0 {
				v += float64(g.Beta) * float64(c[i*n+j])
			}
			if bias != nil {
				v += float64(bias[j])
			}
			if g.ReLU && v < 0 {
				v = 0
			}
			if mask != nil && !(mask[i*n+j] > 0) {
				v = 0
			}
			c[i*n+j] = float32(v)
		}
	}
}
