// Package kernels holds the CUDA C sources of the GPU backend (*.cu, with
// the parameter structs in params.h) and what `make kernels`
// (kernels/build.sh) generates from them: per source, PTX for compute_80
// with line information, and a fatbin holding machine code (SASS) for sm_80
// (A100) and sm_90 (H100, H200) plus that PTX, which the driver
// JIT-compiles for other GPUs of compute capability 8.0 and newer. Both are
// committed and embedded here, so building the backend needs no nvcc and an
// A100 or H100 runs without a JIT step; `make kernels-check` regenerates
// them, fails if they differ from the committed copies or a kernel spills
// registers, and prints the registers per kernel.
//
// Every kernel is extern "C", named <op>_f32, and takes one parameter
// struct from params.h by value.
package kernels

import (
	_ "embed"
	"regexp"
	"strconv"
)

// Module is one module: the compiled forms of one .cu file.
type Module struct {
	Name   string // the .cu file's base name, e.g. "gemm"
	PTX    string // PTX for compute_80, with line information
	Fatbin string // SASS for sm_80 and sm_90 plus the PTX: what the driver loads
}

//go:embed gemm.ptx
var gemmPTX string

//go:embed gemm.fatbin
var gemmFatbin string

//go:embed ops.ptx
var opsPTX string

//go:embed ops.fatbin
var opsFatbin string

//go:embed conv.ptx
var convPTX string

//go:embed conv.fatbin
var convFatbin string

//go:embed mlp.ptx
var mlpPTX string

//go:embed mlp.fatbin
var mlpFatbin string

// Modules are the kernel modules, one per .cu file.
var Modules = []Module{
	{"gemm", gemmPTX, gemmFatbin},
	{"ops", opsPTX, opsFatbin},
	{"conv", convPTX, convFatbin},
	{"mlp", mlpPTX, mlpFatbin},
}

// SASSArchs are the GPU architectures each Fatbin carries machine code for
// (kernels/build.sh); other GPUs JIT-compile its PTX.
var SASSArchs = []string{"sm_80", "sm_90"}

// Entry is a kernel entry point declared in a PTX module.
type Entry struct {
	Name      string
	ParamSize int // bytes of its single by-value parameter struct
}

var entryRE = regexp.MustCompile(`\.entry\s+(\w+)\(\s*\.param\s+\.align\s+\d+\s+\.b8\s+\w+\[(\d+)\]\s*\)`)

// Entries returns the kernels a PTX module declares, in order.
func Entries(ptx string) []Entry {
	var es []Entry
	for _, m := range entryRE.FindAllStringSubmatch(ptx, -1) {
		n, _ := strconv.Atoi(m[2])
		es = append(es, Entry{Name: m[1], ParamSize: n})
	}
	return es
}
