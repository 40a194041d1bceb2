//go:build amd64 && !noasm

package cpu

import "golang.org/x/sys/cpu"

// simdKernelSets returns the assembly kernel sets this CPU (and its OS,
// which must save the wider registers) runs, fastest first.
func simdKernelSets() []*kernelSet {
	var sets []*kernelSet
	x := &cpu.X86
	// AVX-512F for the zmm kernels; BMI2 (BZHI) and POPCNT build their masks.
	if x.HasAVX512F && x.HasBMI2 && x.HasPOPCNT {
		sets = append(sets, &avx512Kernels)
	}
	if x.HasAVX2 && x.HasFMA {
		sets = append(sets, &avx2Kernels)
	}
	return sets
}
