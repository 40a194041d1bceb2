package cpu

// NewWithKernels returns a backend whose ops run on the named kernel path
// ("avx512", "avx2", "go"), for the external tests and benchmarks; ok is
// false when this CPU cannot run it.
func NewWithKernels(path string, opts ...Option) (b *Backend, ok bool) {
	for _, ks := range kernelPaths() {
		if ks.name == path {
			b = New(opts...)
			b.forceKernels = ks
			return b, true
		}
	}
	return nil, false
}

// KernelPaths names the kernel paths this CPU runs, fastest first.
func KernelPaths() []string {
	var names []string
	for _, ks := range kernelPaths() {
		names = append(names, ks.name)
	}
	return names
}

// ThreadClock is threadClock for the external benchmarks.
var ThreadClock = threadClock
