package mnist

import (
	"math/bits"
	"math/rand/v2"
)

// Permutation fills dst with a random permutation of 0..len(dst)-1 determined
// only by seed and epoch: a Fisher–Yates shuffle driven by PCG-DXSM seeded with
// (seed, epoch), with Lemire's unbiased bounded integers. Both algorithms are
// fixed here, so the order is the same on every machine and Go version.
func Permutation(dst []int32, seed uint64, epoch int) {
	for i := range dst {
		dst[i] = int32(i)
	}
	var src rand.PCG // a value, not rand.NewPCG's pointer: Reset allocates nothing
	src.Seed(seed, uint64(epoch))
	for i := len(dst) - 1; i > 0; i-- {
		j := boundedRand(&src, uint64(i+1))
		dst[i], dst[j] = dst[j], dst[i]
	}
}

// boundedRand returns a uniform integer in [0, n) by Lemire's multiply-and-reject method.
func boundedRand(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		threshold := -n % n
		for lo < threshold {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}
