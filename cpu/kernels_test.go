package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// The kernels against their reference loops (the doc comments of the
// generated declarations, written out in kernels_ref.go), for every tile
// shape, epilogue, stride layout and partial vector, with guard bands
// around every output.

// testSets returns the kernel sets to check: the assembly sets this CPU
// runs, the pure-Go set, and reference sets shaped like each ISA (which
// check the test itself and run everywhere).
func testSets() []*kernelSet {
	sets := append(simdKernelSets(), &goKernels)
	return append(sets, refKernels(16, []int{0, 16, 12, 8, 6}, 16, 4, true), refKernels(8, []int{0, 12, 6, 4}, 12, 4, false))
}

const guard = float32(-12345.5) // the value around outputs, which must survive

// guarded returns a slice of n elements (random, or zero where zeros > 0
// picks them) with guard values before and after it, and its backing array.
func guarded(r *rand.Rand, n int, zeros float64) (x, all []float32) {
	all = make([]float32, n+64)
	for i := range all {
		all[i] = guard
	}
	x = all[32 : 32+n]
	for i := range x {
		x[i] = float32(r.NormFloat64())
		if r.Float64() < zeros {
			x[i] = 0
		}
	}
	return x, all
}

// checkGuards fails when a guard value outside x[lo:hi] of all changed.
func checkGuards(t *testing.T, what string, all []float32, lo, hi int) {
	t.Helper()
	for i, v := range all {
		if (i < 32+lo || i >= 32+hi) && v != guard {
			t.Fatalf("%s: guard at %d overwritten with %g", what, i-32, v)
		}
	}
}

// epilogue64 is storeRef in float64 from the exact sum t.
func epilogue64(t float64, i, j int, c0 []float32, ldc int, alpha float32, flags int, bias, mask []float32) float64 {
	v := float64(alpha) * t
	if flags&flagAdd != 0 {
		v += float64(c0[i*ldc+j])
	}
	if flags&flagBias != 0 {
		v += float64(bias[j])
	}
	if flags&flagReLU != 0 && v < 0 {
		v = 0
	}
	if flags&flagMask != 0 && !(mask[i*ldc+j] > 0) {
		v = 0
	}
	return v
}

// near reports whether got is within a float32 rounding budget of want for
// a sum of n terms whose magnitudes add up to scale.
func near(got float32, want, scale float64, n int) bool {
	return math.Abs(float64(got)-want) <= 1e-6+2*float64(n+4)*0x1p-24*scale
}

func TestTileKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 1))
	for _, ks := range testSets() {
		W := ks.lanes
		for nv := 1; nv <= ks.maxNV(); nv++ {
			for mr := 1; mr < len(ks.tiles[nv]); mr++ {
				for trial := 0; trial < 6; trial++ {
					kn := []int{0, 1, 3, 17, 40, 9}[trial]
					tail := []int{W, 1, W - 1, W, W / 2, W}[trial]
					flags := r.IntN(16)
					colMajor := trial%2 == 1 // S[i,k] at s[k*ks+i]
					name := fmt.Sprintf("%s tile %dx%d kn=%d tail=%d flags=%d colMajor=%v", ks.name, mr, nv, kn, tail, flags, colMajor)
					w := nv * W
					rs, kst := kn+2, 1
					if colMajor {
						rs, kst = 1, mr+3
					}
					s, _ := guarded(r, mr*rs+max(kn, 1)*kst, 0.3)
					dd := w + 5
					d, _ := guarded(r, max(kn, 1)*dd, 0.2)
					ldc := w + 3
					c, call := guarded(r, (mr-1)*ldc+w, 0)
					c0 := append([]float32(nil), c...)
					bias, _ := guarded(r, w, 0)
					mask, _ := guarded(r, (mr-1)*ldc+w, 0.5)
					alpha := []float32{1, 0.5, -2}[trial%3]
					ks.tiles[nv][mr](&s[0], rs, kst, &d[0], dd, kn, &c[0], ldc, alpha, flags, tail, &bias[0], &mask[0])
					for i := 0; i < mr; i++ {
						for j := 0; j < w; j++ {
							got := c[i*ldc+j]
							if j >= w-W+tail {
								if got != c0[i*ldc+j] {
									t.Fatalf("%s: C[%d,%d] beyond the tail changed", name, i, j)
								}
								continue
							}
							var sum, scale float64
							for k := 0; k < kn; k++ {
								p := float64(s[i*rs+k*kst]) * float64(d[k*dd+j])
								sum += p
								scale += math.Abs(p)
							}
							want := epilogue64(sum, i, j, c0, ldc, alpha, flags, bias, mask)
							scale = scale*math.Abs(float64(alpha)) + math.Abs(float64(c0[i*ldc+j])) + math.Abs(float64(bias[j]))
							if !near(got, want, scale, kn) {
								t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, got, want)
							}
						}
					}
					checkGuards(t, name, call, 0, len(c))
				}
			}
		}
	}
}

func TestListTileKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 2))
	for _, ks := range testSets() {
		W := ks.lanes
		for mr := 1; mr < len(ks.listTiles); mr++ {
			for trial := 0; trial < 4; trial++ {
				k := []int{0, 5, 33, 64}[trial]
				tail := []int{W, 1, W, W - 1}[trial]
				flags := r.IntN(16)
				name := fmt.Sprintf("%s listTile %d k=%d tail=%d flags=%d", ks.name, mr, k, tail, flags)
				kst := mr + 2
				s, _ := guarded(r, max(k, 1)*kst, 0.3)
				dd := W + 3
				d, _ := guarded(r, max(k, 1)*dd, 0.5)
				var list []int32
				for kk := 0; kk < k; kk++ {
					if r.IntN(3) > 0 {
						list = append(list, int32(kk))
					}
				}
				list = append(list, 0) // a pointer even when empty
				kn := len(list) - 1
				ldc := W + 1
				c, call := guarded(r, (mr-1)*ldc+W, 0)
				c0 := append([]float32(nil), c...)
				bias, _ := guarded(r, W, 0)
				mask, _ := guarded(r, (mr-1)*ldc+W, 0.5)
				ks.listTiles[mr](&s[0], kst, &d[0], dd, &list[0], kn, &c[0], ldc, 0.75, flags, tail, &bias[0], &mask[0])
				for i := 0; i < mr; i++ {
					for j := 0; j < W; j++ {
						got := c[i*ldc+j]
						if j >= tail {
							if got != c0[i*ldc+j] {
								t.Fatalf("%s: C[%d,%d] beyond the tail changed", name, i, j)
							}
							continue
						}
						var sum, scale float64
						for _, kk := range list[:kn] {
							p := float64(s[int(kk)*kst+i]) * float64(d[int(kk)*dd+j])
							sum += p
							scale += math.Abs(p)
						}
						want := epilogue64(sum, i, j, c0, ldc, 0.75, flags, bias, mask)
						scale = scale + math.Abs(float64(c0[i*ldc+j])) + math.Abs(float64(bias[j]))
						if !near(got, want, scale, kn) {
							t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, got, want)
						}
					}
				}
				checkGuards(t, name, call, 0, len(c))
			}
		}
	}
}

func TestSparseRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 3))
	for _, ks := range testSets() {
		W := ks.lanes
		for nv := 1; nv < len(ks.sparseRows); nv++ {
			for trial := 0; trial < 5; trial++ {
				k := []int{1, 1, 2, 7, 100}[trial]
				rows := []int{1, 0, 3, 2, 5}[trial]
				tail := []int{W, 1, W, W - 1, W}[trial]
				flags := r.IntN(16)
				name := fmt.Sprintf("%s sparseRows %d k=%d rows=%d tail=%d flags=%d", ks.name, nv, k, rows, tail, flags)
				w := nv * W
				dd := w + 7
				lds := k + 3
				s, _ := guarded(r, max(rows, 1)*lds, 0.7)
				d, _ := guarded(r, k*dd, 0)
				stride := k + 16 + 1
				vals := make([]float32, max(rows, 1)*stride)
				offs := make([]int32, max(rows, 1)*stride)
				cnt := make([]int32, max(rows, 1))
				ks.compactRows(&s[0], lds, k, rows, &vals[0], &offs[0], &cnt[0], stride, 4*dd)
				ldc := w + 2
				c, call := guarded(r, max(rows, 1)*ldc, 0)
				c0 := append([]float32(nil), c...)
				bias, _ := guarded(r, w, 0)
				mask, _ := guarded(r, max(rows, 1)*ldc, 0.5)
				ks.sparseRows[nv](&vals[0], &offs[0], &cnt[0], stride, rows, &d[0], &c[0], ldc, -1.5, flags, tail, &bias[0], &mask[0])
				for i := 0; i < max(rows, 1); i++ {
					for j := 0; j < ldc; j++ {
						got := c[i*ldc+j]
						if i >= rows || j >= w-W+tail {
							if got != c0[i*ldc+j] {
								t.Fatalf("%s: C[%d,%d] outside the rows or beyond the tail changed", name, i, j)
							}
							continue
						}
						var sum, scale float64
						for kk := 0; kk < k; kk++ {
							p := float64(s[i*lds+kk]) * float64(d[kk*dd+j])
							sum += p
							scale += math.Abs(p)
						}
						want := epilogue64(sum, i, j, c0, ldc, -1.5, flags, bias, mask)
						scale = 1.5*scale + math.Abs(float64(c0[i*ldc+j])) + math.Abs(float64(bias[j]))
						if !near(got, want, scale, k) {
							t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, got, want)
						}
					}
				}
				checkGuards(t, name, call, 0, len(c))
			}
		}
	}
}

func TestMaskRowKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 8))
	for _, ks := range testSets() {
		if ks.maskRows == nil {
			continue
		}
		W := ks.lanes
		for nv := 1; nv < len(ks.maskRows); nv++ {
			for trial := 0; trial < 6; trial++ {
				k := []int{1, 64, 17, 65, 130, 64}[trial]
				rows := []int{1, 3, 0, 2, 2, 16}[trial]
				tail := []int{W, 1, W, W - 1, W, W}[trial]
				flags := r.IntN(16)
				name := fmt.Sprintf("%s sparseMaskRows %d k=%d rows=%d tail=%d flags=%d", ks.name, nv, k, rows, tail, flags)
				w := nv * W
				dd := w + 7
				lds := k + 3
				s, _ := guarded(r, max(rows, 1)*lds, 0.7)
				if trial == 5 {
					for i := range s {
						if r.IntN(9) == 0 {
							s[i] = float32(math.Copysign(0, -1))
						}
					}
				}
				d, _ := guarded(r, k*dd, 0)
				ldc := w + 2
				c, call := guarded(r, max(rows, 1)*ldc, 0)
				c0 := append([]float32(nil), c...)
				bias, _ := guarded(r, w, 0)
				mask, _ := guarded(r, max(rows, 1)*ldc, 0.5)
				ks.maskRows[nv](&s[0], lds, k, rows, &d[0], dd, &c[0], ldc, 0.5, flags, tail, &bias[0], &mask[0])
				for i := 0; i < max(rows, 1); i++ {
					for j := 0; j < ldc; j++ {
						got := c[i*ldc+j]
						if i >= rows || j >= w-W+tail {
							if got != c0[i*ldc+j] {
								t.Fatalf("%s: C[%d,%d] outside the rows or beyond the tail changed", name, i, j)
							}
							continue
						}
						var sum, scale float64
						for kk := 0; kk < k; kk++ {
							p := float64(s[i*lds+kk]) * float64(d[kk*dd+j])
							sum += p
							scale += math.Abs(p)
						}
						want := epilogue64(sum, i, j, c0, ldc, 0.5, flags, bias, mask)
						scale = 0.5*scale + math.Abs(float64(c0[i*ldc+j])) + math.Abs(float64(bias[j]))
						if !near(got, want, scale, k) {
							t.Fatalf("%s: C[%d,%d] = %g, want %g", name, i, j, got, want)
						}
					}
				}
				checkGuards(t, name, call, 0, len(c))
			}
		}
	}
}

func TestCompactKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 4))
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	for _, ks := range testSets() {
		for _, n := range []int{1, 3, 15, 16, 17, 33, 64, 100, 784} {
			for trial := 0; trial < 5; trial++ {
				rows, lds := 1+trial%3, n+trial
				s, _ := guarded(r, rows*lds, 0.6)
				for i := range s {
					switch r.IntN(10) {
					case 0:
						s[i] = negZero // a zero all the same
					case 1:
						if trial == 0 {
							s[i] = nan // kept: NaN is not zero
						}
					}
				}
				if trial == 1 {
					clear(s)
				}
				stride := n + 16 + 3
				vals, vall := guarded(r, rows*stride, 0)
				offs := make([]int32, rows*stride+64)
				cnt := make([]int32, rows+1)
				cnt[rows] = -9
				ks.compactRows(&s[0], lds, n, rows, &vals[0], &offs[32], &cnt[0], stride, 12)
				for i := 0; i < rows; i++ {
					var want, got []string
					for k, v := range s[i*lds : i*lds+n] {
						if v != 0 || v != v {
							want = append(want, fmt.Sprint(v, k*12))
						}
					}
					for q := 0; q < int(cnt[i]); q++ {
						got = append(got, fmt.Sprint(vals[i*stride+q], offs[32+i*stride+q]))
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("%s compactRows n=%d row %d: got %v, want %v", ks.name, n, i, got, want)
					}
				}
				if cnt[rows] != -9 {
					t.Fatalf("%s compactRows wrote past the counts", ks.name)
				}
				checkGuards(t, "compactRows vals", vall, 0, rows*stride)
				for i, o := range offs {
					if (i < 32 || i >= 32+rows*stride) && o != 0 {
						t.Fatalf("%s compactRows n=%d: offs guard %d written", ks.name, n, i-32)
					}
				}
			}
		}
	}
}

// TestCompactColsKernels checks compactCols (where a set has it) against
// its reference loop: the nonzeros of each of the first lanes columns, in
// order, NaN kept and -0 dropped, with guards around the outputs.
func TestCompactColsKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 7))
	negZero := float32(math.Copysign(0, -1))
	for _, ks := range testSets() {
		if ks.compactCols == nil {
			continue
		}
		W := ks.lanes
		for _, n := range []int{1, 3, 17, 64, 100} {
			for trial := 0; trial < 4; trial++ {
				lds := W + trial*5 // the strip's columns within wider rows
				s, _ := guarded(r, (n-1)*lds+W, 0.7)
				for i := range s {
					switch r.IntN(12) {
					case 0:
						s[i] = negZero
					case 1:
						s[i] = float32(math.NaN())
					}
				}
				if trial == 1 {
					clear(s)
				}
				stride := n + 7
				vals, vall := guarded(r, W*stride, 0)
				offs := make([]int32, W*stride+64)
				cnt := make([]int32, W+1)
				cnt[W] = -9
				ks.compactCols(&s[0], lds, n, &vals[0], &offs[32], &cnt[0], stride, 12)
				for q := 0; q < W; q++ {
					var want, got []string
					for k := 0; k < n; k++ {
						if v := s[k*lds+q]; v != 0 || v != v {
							want = append(want, fmt.Sprint(v, k*12))
						}
					}
					for i := 0; i < int(cnt[q]); i++ {
						got = append(got, fmt.Sprint(vals[q*stride+i], offs[32+q*stride+i]))
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("%s compactCols n=%d column %d: got %v, want %v", ks.name, n, q, got, want)
					}
				}
				if cnt[W] != -9 {
					t.Fatalf("%s compactCols wrote past the counts", ks.name)
				}
				checkGuards(t, "compactCols vals", vall, 0, W*stride)
				for i, o := range offs {
					if (i < 32 || i >= 32+W*stride) && o != 0 {
						t.Fatalf("%s compactCols n=%d: offs guard %d written", ks.name, n, i-32)
					}
				}
			}
		}
	}
}

func TestNonzeroRowsKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 5))
	for _, ks := range testSets() {
		W := ks.lanes
		for _, n := range []int{0, 1, 5, 64} {
			dd := W + 9
			d, _ := guarded(r, max(n, 1)*dd, 0.9)
			for k := 0; k < n; k++ {
				if r.IntN(4) == 0 {
					clear(d[k*dd : k*dd+W])
				}
				if r.IntN(8) == 0 {
					d[k*dd+r.IntN(W)] = float32(math.NaN())
				}
			}
			list := make([]int32, n+2)
			list[n], list[n+1] = -7, -7
			m := ks.nonzeroRows(&d[0], dd, n, &list[0])
			var want []int32
			for k := 0; k < n; k++ {
				for _, v := range d[k*dd : k*dd+W] {
					if v != 0 || v != v {
						want = append(want, int32(k))
						break
					}
				}
			}
			if fmt.Sprint(list[:m]) != fmt.Sprint(want) {
				t.Fatalf("%s nonzeroRows n=%d: %v, want %v", ks.name, n, list[:m], want)
			}
			if list[n] != -7 || list[n+1] != -7 {
				t.Fatalf("%s nonzeroRows n=%d wrote past n", ks.name, n)
			}
		}
	}
}

func TestTransposeKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 6))
	for _, ks := range testSets() {
		W := ks.lanes
		for _, nb := range []int{0, 1, 3} {
			lds, ldd := W*nb+5, W+3
			src, _ := guarded(r, W*lds, 0)
			dst, dall := guarded(r, max(W*nb, 1)*ldd, 0)
			d0 := append([]float32(nil), dst...)
			ks.transpose(&src[0], lds, &dst[0], ldd, nb)
			for c := 0; c < W*nb; c++ {
				for rr := 0; rr < ldd; rr++ {
					want := d0[c*ldd+rr]
					if rr < W {
						want = src[rr*lds+c]
					}
					if dst[c*ldd+rr] != want {
						t.Fatalf("%s transpose nb=%d: dst[%d,%d] = %g, want %g", ks.name, nb, c, rr, dst[c*ldd+rr], want)
					}
				}
			}
			checkGuards(t, "transpose", dall, 0, len(dst))
		}
	}
}

func TestElementwiseKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 7))
	for _, ks := range testSets() {
		for _, n := range []int{0, 1, 7, 16, 17, 64, 100, 1000} {
			// bytesToF32: bitwise the lookup table of Gather.
			src := make([]uint8, n)
			for i := range src {
				src[i] = uint8(r.IntN(256))
			}
			dst, dall := guarded(r, n, 0)
			scale, shift := float32(1)/255, float32(-0.1307)
			ks.bytesToF32All(dst, src, scale, shift)
			for i, v := range src {
				if want := float32(float32(v)*scale) + shift; dst[i] != want {
					t.Fatalf("%s bytesToF32 n=%d: dst[%d] = %g, want %g", ks.name, n, i, dst[i], want)
				}
			}
			checkGuards(t, "bytesToF32", dall, 0, n)

			// SGD: bitwise the Go loop.
			p, pall := guarded(r, n, 0)
			g, _ := guarded(r, n, 0.1)
			want := append([]float32(nil), p...)
			for i := range want {
				want[i] -= 0.005 * g[i]
			}
			ks.sgdAll(p, g, 0.005)
			for i := range p {
				if p[i] != want[i] {
					t.Fatalf("%s sgd n=%d: p[%d] = %g, want %g", ks.name, n, i, p[i], want[i])
				}
			}
			checkGuards(t, "sgd", pall, 0, n)

			// SGD with momentum: bitwise the Go loop of optJob.
			p, pall = guarded(r, n, 0)
			g, _ = guarded(r, n, 0.1)
			v, vall := guarded(r, n, 0.1)
			wantP, wantV := append([]float32(nil), p...), append([]float32(nil), v...)
			for i := range wantP {
				wantV[i] = 0.9*wantV[i] + g[i]
				wantP[i] -= 0.005 * wantV[i]
			}
			ks.sgdMomentumAll(p, g, v, 0.005, 0.9)
			for i := range p {
				if p[i] != wantP[i] || v[i] != wantV[i] {
					t.Fatalf("%s sgdMomentum n=%d: p[%d], v[%d] = %g, %g, want %g, %g", ks.name, n, i, i, p[i], v[i], wantP[i], wantV[i])
				}
			}
			checkGuards(t, "sgdMomentum", pall, 0, n)
			checkGuards(t, "sgdMomentum", vall, 0, n)

			// Column sums: bitwise the Go loop, rows added in order.
			rows := 1 + n%9
			ld := n + 3
			m, _ := guarded(r, rows*ld, 0)
			sums, sall := guarded(r, n, 0)
			ks.sumRowsAll(sums, m, rows, ld)
			for j := 0; j < n; j++ {
				var want float32
				for rr := 0; rr < rows; rr++ {
					want += m[rr*ld+j]
				}
				if sums[j] != want {
					t.Fatalf("%s sumRows n=%d: dst[%d] = %g, want %g", ks.name, n, j, sums[j], want)
				}
			}
			checkGuards(t, "sumRows", sall, 0, n)
		}
	}
}

// The kernels take pointers to the first element: a zero-length call must
// not need one, which the wrappers guarantee.
func TestElementwiseEmpty(t *testing.T) {
	for _, ks := range testSets() {
		ks.bytesToF32All(nil, nil, 1, 0)
		ks.sgdAll(nil, nil, 1)
		ks.sgdMomentumAll(nil, nil, nil, 1, 0.9)
		ks.sumRowsAll(nil, nil, 0, 0)
	}
}

// expNonPositive against math.Exp over its whole domain, edges included.
func TestExpNonPositive(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	xs := []float64{0, math.Copysign(0, -1), -1e-300, -0.5, -0.34657359, -0.34657360, -1, -20, -700, -707.9, -708, -708.1, -745, -746, -1000, math.Inf(-1), math.NaN(), 1, math.Inf(1)}
	for i := 0; i < 100000; i++ {
		xs = append(xs, -r.Float64()*float64(r.IntN(710)))
	}
	for _, x := range xs {
		got, want := expNonPositive(x), math.Exp(x)
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("exp(%g) = %g, want NaN", x, got)
			}
			continue
		}
		if d := math.Abs(got - want); d > 1e-9*want {
			t.Fatalf("exp(%g) = %g, want %g (rel. error %g)", x, got, want, d/want)
		}
	}
}

// TestExpReducedKernels checks every kernel set's expReduced against the Go
// function, bit for bit, over its domain and past its edges (the lanes
// outside (−708, 0] keep their input and are counted).
func TestExpReducedKernels(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 11))
	edges := []float64{0, math.Copysign(0, -1), -1e-300, -5e-324, -0.5, -0.34657359, -0.34657360, -1, -20, -700, -707.9,
		math.Nextafter(-708, 0), -708, -708.1, -745, -1000, math.Inf(-1), math.NaN(), 1, 5e-324, math.Inf(1)}
	for _, ks := range testSets() {
		if ks.expReduced == nil {
			continue
		}
		for trial := 0; trial < 200; trial++ {
			n := 8 * (1 + r.IntN(12))
			src := make([]float64, n)
			for i := range src {
				switch {
				case trial == 0 && i < len(edges):
					src[i] = edges[i]
				case r.IntN(20) == 0:
					src[i] = edges[r.IntN(len(edges))]
				default:
					src[i] = -r.Float64() * float64(r.IntN(710))
				}
			}
			dst := make([]float64, n+8)
			for i := range dst {
				dst[i] = 42
			}
			out := ks.expReduced(&dst[0], &src[0], n)
			wantOut := 0
			for i, v := range src {
				want := v
				if v > -708 && v <= 0 {
					want = expReduced(v)
				} else {
					wantOut++
				}
				if math.Float64bits(dst[i]) != math.Float64bits(want) {
					t.Fatalf("%s: expReduced(%g) = %g (%#x), want %g (%#x)", ks.name, v, dst[i], math.Float64bits(dst[i]), want, math.Float64bits(want))
				}
			}
			if out != wantOut {
				t.Fatalf("%s: %d lanes outside (−708, 0] counted, want %d", ks.name, out, wantOut)
			}
			for _, v := range dst[n:] {
				if v != 42 {
					t.Fatalf("%s: wrote past the %d elements", ks.name, n)
				}
			}
		}
	}
}
