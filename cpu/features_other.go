//go:build !amd64 || noasm

package cpu

// simdKernelSets returns no assembly kernels: this build has none (not
// amd64, or -tags noasm), so every op runs on the pure-Go kernel set.
func simdKernelSets() []*kernelSet { return nil }
