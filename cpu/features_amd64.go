//go:build amd64 && !noasm

package cpu

import "golang.org/x/sys/cpu"

// simdKernelSets returns the assembly kernel sets this CPU (and its OS,
// which must save the wider registers) runs, fastest first.
func simdKernelSets() []*kernelSet {
	var sets []*kernelSet
	x := &cpu.X86
	// AVX-512 F, DQ and VL (opmasks on ymm: im2col's and col2im's runs)
	// for the zmm kernels, as every AVX-512 processor since Skylake-SP has
	// them; BMI1 (TZCNT, BLSR), BMI2 (BZHI) and POPCNT build their masks.
	if x.HasAVX512F && x.HasAVX512DQ && x.HasAVX512VL && x.HasBMI1 && x.HasBMI2 && x.HasPOPCNT {
		sets = append(sets, &avx512Kernels)
	}
	if x.HasAVX2 && x.HasFMA {
		sets = append(sets, &avx2Kernels)
	}
	return sets
}
