// Package kernels holds the CUDA C sources of the GPU backend (*.cu, with
// the parameter structs in params.h) and the PTX that `make kernels`
// generates from them with nvcc for a fixed virtual architecture
// (compute_80), which the driver JIT-compiles for the GPU at hand (Ampere,
// Hopper and newer). The PTX is committed and embedded here, so building
// the backend needs no nvcc; `make kernels-check` regenerates it, fails if
// it differs from the committed copy and assembles it with ptxas.
//
// Every kernel is extern "C", named <op>_f32, and takes one parameter
// struct from params.h by value.
package kernels

import (
	_ "embed"
	"regexp"
	"strconv"
)

// Module is one PTX module: the compiled form of one .cu file.
type Module struct {
	Name string // the .cu file's base name, e.g. "gemm"
	PTX  string
}

//go:embed gemm.ptx
var gemmPTX string

//go:embed ops.ptx
var opsPTX string

//go:embed conv.ptx
var convPTX string

// Modules are the PTX modules, one per .cu file.
var Modules = []Module{
	{"gemm", gemmPTX},
	{"ops", opsPTX},
	{"conv", convPTX},
}

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
