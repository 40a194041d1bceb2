package cpu

import (
	"fmt"
	"unsafe"
)

// The reference kernels: the reference loops of the generated kernels'
// doc comments, in Go, behind the same signatures. refKernels builds a set
// of them shaped like an assembly set (the same lanes and tile sizes), so
// that the GEMM driver runs on any CPU exactly as it does on the assembly; tests also check
// each assembly kernel against its twin here. They read exactly the memory
// the assembly reads (whole vectors of D included), so that the race
// detector's pointer checks catch a driver that passes too short a buffer.

// refKernels returns reference kernels for vectors of lanes floats and the
// tile shapes maxMR (by vectors, from 1), listMR and sparseNV; with
// withMask, the bit-mask sparse kernels too (as AVX-512 has).
func refKernels(lanes int, maxMR []int, listMR, sparseNV int, withMask bool) *kernelSet {
	ks := &kernelSet{
		name:           fmt.Sprintf("ref%d", lanes),
		lanes:          lanes,
		tiles:          make([][]tileFunc, len(maxMR)),
		listTiles:      make([]listFunc, listMR+1),
		sparseRows:     make([]sparseFunc, sparseNV+1),
		compactRows:    compactRowsGo,
		fmaPeakVectors: 1,
	}
	for nv := 1; nv < len(maxMR); nv++ {
		ks.tiles[nv] = make([]tileFunc, maxMR[nv]+1)
		for mr := 1; mr <= maxMR[nv]; mr++ {
			ks.tiles[nv][mr] = refTile(mr, nv, lanes)
		}
	}
	for mr := 1; mr <= listMR; mr++ {
		ks.listTiles[mr] = refListTile(mr, lanes)
	}
	for nv := 1; nv <= sparseNV; nv++ {
		ks.sparseRows[nv] = refSparseRow(nv, lanes)
	}
	if withMask {
		ks.maskRows = make([]maskFunc, sparseNV+1)
		for nv := 1; nv <= sparseNV; nv++ {
			ks.maskRows[nv] = refMaskRows(nv, lanes)
		}
	}
	ks.nonzeroRows = func(d *float32, dd, n int, list *int32) int {
		m := 0
		for k := 0; k < n; k++ {
			for _, v := range floats(d, k*dd, lanes) {
				if v != 0 || v != v {
					*at32(list, m) = int32(k)
					m++
					break
				}
			}
		}
		return m
	}
	ks.transpose = func(src *float32, lds int, dst *float32, ldd, nb int) {
		for r := 0; r < lanes; r++ {
			for c := 0; c < lanes*nb; c++ {
				*at(dst, c*ldd+r) = *at(src, r*lds+c)
			}
		}
	}
	// The elementwise kernels are the pure-Go set's (kernels_go.go): their
	// reference loops, for any width.
	ks.bytesToF32, ks.sgd, ks.sgdMomentum, ks.adam = bytesToF32Go, sgdGo, sgdMomentumGo, adamGo
	ks.sumRows, ks.windowMax, ks.windowScatter = sumRowsGo, windowMaxGo, windowScatterGo
	ks.fmaPeak = func(n int) {}
	ks.prefetch = func(p *uint8, n int) {}
	return ks
}

// at returns &p[i] for p seen as a slice.
func at(p *float32, i int) *float32 { return (*float32)(unsafe.Add(unsafe.Pointer(p), 4*i)) }

// at32 is at for int32s.
func at32(p *int32, i int) *int32 { return (*int32)(unsafe.Add(unsafe.Pointer(p), 4*i)) }

// floats returns p[off:off+n] for p seen as a slice.
func floats(p *float32, off, n int) []float32 { return unsafe.Slice(at(p, off), n) }

// storeRef is the epilogue of every kernel's reference loop: the store of
// t = (S·D)[i,j] into c[i*ldc+j].
func storeRef(t float32, i, j int, c *float32, ldc int, alpha float32, flags int, bias, mask *float32) {
	v := alpha * t
	if flags&flagAdd != 0 {
		v += *at(c, i*ldc+j)
	}
	if flags&flagBias != 0 {
		v += *at(bias, j)
	}
	if flags&flagReLU != 0 {
		v = relu(v)
	}
	if flags&flagMask != 0 {
		v = masked(v, *at(mask, i*ldc+j))
	}
	*at(c, i*ldc+j) = v
}

// refTile is the reference loop of tile<ISA>_<mr>x<nv>.
func refTile(mr, nv, lanes int) tileFunc {
	return func(s *float32, rs, ks int, d *float32, dd, kn int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
		w := nv * lanes
		t := make([]float32, w)
		for i := 0; i < mr; i++ {
			clear(t)
			for k := 0; k < kn; k++ {
				sv := *at(s, i*rs+k*ks)
				for j, dv := range floats(d, k*dd, w) { // every column, as the assembly reads
					t[j] += sv * dv
				}
			}
			for j := 0; j < w-lanes+tail; j++ {
				storeRef(t[j], i, j, c, ldc, alpha, flags, bias, mask)
			}
		}
	}
}

// refListTile is the reference loop of listTile<ISA>_<mr>.
func refListTile(mr, lanes int) listFunc {
	return func(s *float32, ks int, d *float32, dd int, list *int32, kn int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
		t := make([]float32, lanes)
		ks32 := unsafe.Slice(list, kn)
		for i := 0; i < mr; i++ {
			clear(t)
			for _, k := range ks32 {
				sv := *at(s, int(k)*ks+i)
				for j, dv := range floats(d, int(k)*dd, lanes) {
					t[j] += sv * dv
				}
			}
			for j := 0; j < tail; j++ {
				storeRef(t[j], i, j, c, ldc, alpha, flags, bias, mask)
			}
		}
	}
}

// refSparseRow is the reference loop of sparseRows<ISA>_<nv>.
func refSparseRow(nv, lanes int) sparseFunc {
	return func(vals *float32, offs *int32, cnt *int32, stride, rows int, d *float32, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
		w := nv * lanes
		t := make([]float32, w)
		for i := 0; i < rows; i++ {
			clear(t)
			for q := 0; q < int(*at32(cnt, i)); q++ {
				v := *at(vals, i*stride+q)
				for j, dv := range floats(d, int(*at32(offs, i*stride+q))/4, w) {
					t[j] += v * dv
				}
			}
			for j := 0; j < w-lanes+tail; j++ {
				storeRef(t[j], i, j, c, ldc, alpha, flags, bias, mask)
			}
		}
	}
}

// refMaskRows is the reference loop of sparseMaskRows<ISA>_<nv>.
func refMaskRows(nv, lanes int) maskFunc {
	return func(s *float32, lds, k, rows int, d *float32, dd int, c *float32, ldc int, alpha float32, flags, tail int, bias, mask *float32) {
		w := nv * lanes
		t := make([]float32, w)
		for i := 0; i < rows; i++ {
			clear(t)
			for kk := 0; kk < k; kk++ {
				if v := *at(s, i*lds+kk); v != 0 || v != v {
					for j, dv := range floats(d, kk*dd, w) {
						t[j] += v * dv
					}
				}
			}
			for j := 0; j < w-lanes+tail; j++ {
				storeRef(t[j], i, j, c, ldc, alpha, flags, bias, mask)
			}
		}
	}
}
