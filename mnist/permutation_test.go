package mnist_test

import (
	"math"
	"slices"
	"testing"

	"github.com/mnist-go/mnist/mnist"
)

// The permutation is part of the reproducibility promise (same seed, same
// order on every machine): these values pin the algorithm (PCG-DXSM seeded
// with (seed, epoch), Fisher–Yates from the top, Lemire's bounded integers).
// If this test fails, runs made before the change no longer replay.
func TestPermutationGolden(t *testing.T) {
	p10 := make([]int32, 10)
	mnist.Permutation(p10, 1, 0)
	if want := []int32{7, 6, 1, 3, 2, 4, 8, 9, 0, 5}; !slices.Equal(p10, want) {
		t.Errorf("Permutation(n=10, seed 1, epoch 0) = %v, want %v", p10, want)
	}
	p := make([]int32, 60000)
	mnist.Permutation(p, 1, 0)
	if want := []int32{52669, 16376, 29897, 8850, 42017, 34802, 45348, 19013, 24822, 48620, 47065, 54597}; !slices.Equal(p[:12], want) {
		t.Errorf("Permutation(n=60000, seed 1, epoch 0)[:12] = %v, want %v", p[:12], want)
	}
	mnist.Permutation(p, 1, 1)
	if want := []int32{52391, 52859, 6571, 42411, 27773, 18363, 31922, 34390, 41145, 43457, 41266, 14608}; !slices.Equal(p[:12], want) {
		t.Errorf("Permutation(n=60000, seed 1, epoch 1)[:12] = %v, want %v", p[:12], want)
	}
}

func TestPermutationIsPermutation(t *testing.T) {
	for _, n := range []int{0, 1, 2, 3, 10, 1000, 60000} {
		p := make([]int32, n)
		for i := range p {
			p[i] = -7 // Permutation must overwrite whatever dst holds
		}
		mnist.Permutation(p, 42, 3)
		if !isPermutation(p) {
			t.Errorf("n=%d: not a permutation of 0..n-1", n)
		}
	}
}

func TestPermutationSeedsAndEpochs(t *testing.T) {
	perm := func(seed uint64, epoch int) []int32 {
		p := make([]int32, 1000)
		mnist.Permutation(p, seed, epoch)
		return p
	}
	if !slices.Equal(perm(5, 2), perm(5, 2)) {
		t.Error("same seed and epoch gave different orders")
	}
	distinct := [][]int32{perm(5, 0), perm(5, 1), perm(5, 2), perm(6, 0), perm(0, 0), perm(5, -1)}
	for i := range distinct {
		for j := range i {
			if slices.Equal(distinct[i], distinct[j]) {
				t.Errorf("orders %d and %d are the same", i, j)
			}
		}
	}
}

// Every element lands on every position about equally often: catches a
// biased shuffle such as Sattolo's (no element ever stays) or j drawn from
// [0, i) or [0, n).
func TestPermutationUniform(t *testing.T) {
	const n, trials = 4, 24000
	var count [n][n]int
	p := make([]int32, n)
	for s := range trials {
		mnist.Permutation(p, uint64(s), 0)
		for pos, v := range p {
			count[v][pos]++
		}
	}
	for v := range n {
		for pos := range n {
			// expected trials/n = 6000, std ≈ 67; allow 6 std.
			if got := count[v][pos]; math.Abs(float64(got)-trials/n) > 400 {
				t.Errorf("element %d at position %d %d times in %d, want about %d", v, pos, got, trials, trials/n)
			}
		}
	}
}

func isPermutation(p []int32) bool {
	seen := make([]bool, len(p))
	for _, v := range p {
		if v < 0 || int(v) >= len(p) || seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// epoch runs the loader through one epoch and returns the batches' indices and sizes.

// BenchmarkPermutation: one epoch's visiting order of MNIST's training set,
// the host work nn.Trainer overlaps with the device's previous epoch.
func BenchmarkPermutation(b *testing.B) {
	p := make([]int32, 60000)
	epoch := 0
	for b.Loop() {
		mnist.Permutation(p, 1, epoch)
		epoch++
	}
}
