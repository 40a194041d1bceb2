// Command asmgen generates the SIMD kernels of package cpu with avo
// (github.com/mmcloughlin/avo): kernels_amd64.s, their Go declarations
// (kernels_amd64.go, whose doc comments are the kernels' reference loops)
// and the tables that group them by instruction set (kerneltab_amd64.go).
//
// It is its own module so that avo is not a dependency of the engine. Run it
// through `go generate ./cpu/...` (see cpu/kernels.go), which amounts to
//
//	cd cpu/internal/asmgen && go run . -out ../../kernels_amd64.s \
//		-stubs ../../kernels_amd64.go -tab ../../kerneltab_amd64.go -pkg cpu
//
// Every kernel exists for two instruction sets: AVX-512 (F, with 32 zmm
// registers, opmasks for partial vectors and embedded broadcasts) and
// AVX2+FMA (16 ymm registers; partial vectors through VMASKMOVPS). The Go
// side picks one at run time from the CPU's features.
package main

import (
	"flag"
	"fmt"
	"os"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// isa describes one instruction set the kernels are generated for.
type isa struct {
	Name  string // suffix of the Go names: "AVX512" or "AVX2"
	Set   string // name in the tables: "avx512" or "avx2"
	Lanes int    // float32 lanes of a vector register
	Z     bool   // AVX-512: zmm registers, opmasks, embedded broadcasts
	// MaxMR[nv] is the most rows a dense tile of nv vectors computes: its
	// accumulators, the nv vectors of D and a broadcast register (two on
	// AVX2, for the loads to pipeline) must fit in the register file.
	MaxMR []int
	// ListMR is the most rows of a listed tile (one vector wide).
	ListMR int
	// SparseNV is the widest sparse-row kernel, in vectors.
	SparseNV int
}

var (
	avx512 = isa{Name: "AVX512", Set: "avx512", Lanes: 16, Z: true,
		MaxMR: []int{0, 16, 12, 8, 6}, ListMR: 16, SparseNV: 4}
	avx2 = isa{Name: "AVX2", Set: "avx2", Lanes: 8,
		MaxMR: []int{0, 12, 6, 4}, ListMR: 12, SparseNV: 4}
)

// MaxNV is the widest dense tile, in vectors.
func (x isa) MaxNV() int { return len(x.MaxMR) - 1 }

// VecBytes is the size of a vector register.
func (x isa) VecBytes() int { return 4 * x.Lanes }

// vec allocates a virtual vector register of the ISA's width.
func (x isa) vec() reg.VecVirtual {
	if x.Z {
		return ZMM()
	}
	return YMM()
}

var tabOut = flag.String("tab", "", "write the kernel tables (Go source) to `file`")

func main() {
	ConstraintExpr("amd64,!noasm")
	for _, x := range []isa{avx512, avx2} {
		for nv := 1; nv <= x.MaxNV(); nv++ {
			for mr := 1; mr <= x.MaxMR[nv]; mr++ {
				x.tile(mr, nv)
			}
		}
		for mr := 1; mr <= x.ListMR; mr++ {
			x.listTile(mr)
		}
		for nv := 1; nv <= x.SparseNV; nv++ {
			x.sparseRows(nv)
			x.sparseMaskRows(nv)
		}
		x.compact()
		x.nonzeroRows()
		x.transpose()
		x.bytesToF32()
		x.sgd()
		x.sgdMomentum()
		x.adam()
		x.sumRows()
		x.windowMax()
		x.windowScatter()
		x.copyRuns()
		x.addRuns()
		x.addRunPairs()
		x.expReduced()
		x.fmaPeak()
	}
	prefetch()
	Generate() // parses the flags, -tab included
	if *tabOut != "" {
		if err := writeTables(*tabOut, []isa{avx512, avx2}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// param loads the integer or pointer argument name into a new register.
func param(name string) reg.GPVirtual {
	r := GP64()
	Load(Param(name), r)
	return r
}

// broadcastParam broadcasts the float32 argument name into v straight from
// the argument frame (a MOVSS into a register could pick X16–X31, which
// only EVEX encodes).
func broadcastParam(name string, v reg.VecVirtual) {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	VBROADCASTSS(b.Addr, v)
}

// argAddr returns the address of the argument name in the frame, for
// instructions that read it in place.
func argAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}
