package mnist_test

import (
	"math"
	"slices"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
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
func epoch(t *testing.T, l *mnist.Loader, d *mnist.Dataset, e int) (indices []int32, sizes []int) {
	t.Helper()
	l.Reset(e)
	table := mnist.PixelTable(0, 0)
	for l.Next() {
		b := l.Batch()
		if len(b.Indices) != b.Size || len(b.Labels) != b.Size || len(b.X) != b.Size*d.Pixels() {
			t.Fatalf("batch of size %d has %d indices, %d labels, %d inputs", b.Size, len(b.Indices), len(b.Labels), len(b.X))
		}
		for r, i := range b.Indices {
			if b.Labels[r] != int32(d.Labels[i]) {
				t.Fatalf("row %d: label %d, sample %d has %d", r, b.Labels[r], i, d.Labels[i])
			}
			for j, p := range d.Image(int(i)) {
				if x := b.X[r*d.Pixels()+j]; x != table[p] {
					t.Fatalf("row %d pixel %d: %g, sample %d has %d (%g)", r, j, x, i, p, table[p])
				}
			}
		}
		indices = append(indices, b.Indices...)
		sizes = append(sizes, b.Size)
	}
	return indices, sizes
}

func TestLoaderCoverage(t *testing.T) {
	d := mnisttest.SyntheticDataset(103, 6, 5, 1)
	for _, batch := range []int{1, 10, 64, 103, 104, 500} {
		for _, dropLast := range []bool{false, true} {
			for _, shuffle := range []bool{false, true} {
				if dropLast && batch > d.Len() {
					continue // refused by NewLoader; see TestNewLoaderRefuses
				}
				l, err := mnist.NewLoader(d, mnist.LoaderOptions{BatchSize: batch, DropLast: dropLast, Shuffle: shuffle, Seed: 9})
				if err != nil {
					t.Fatal(err)
				}
				for e := range 2 {
					got, sizes := epoch(t, l, d, e)
					full, short := d.Len()/batch, d.Len()%batch
					wantSizes := slices.Repeat([]int{min(batch, d.Len())}, full)
					if short > 0 && !dropLast {
						wantSizes = append(wantSizes, short)
					}
					if batch > d.Len() {
						wantSizes = []int{d.Len()}
					}
					if !slices.Equal(sizes, wantSizes) {
						t.Errorf("batch %d dropLast %v: sizes %v, want %v", batch, dropLast, sizes, wantSizes)
					}
					if l.Steps() != len(wantSizes) {
						t.Errorf("batch %d dropLast %v: Steps() = %d, epoch had %d batches", batch, dropLast, l.Steps(), len(wantSizes))
					}
					// Every sample exactly once: the visited ones are distinct
					// and, with the dropped tail of the order, make up 0..N-1.
					all := append(slices.Clone(got), l.Order()[len(got):]...)
					if !isPermutation(all) || !slices.Equal(all, l.Order()) {
						t.Errorf("batch %d dropLast %v shuffle %v epoch %d: samples not visited exactly once in order", batch, dropLast, shuffle, e)
					}
					if !dropLast && len(got) != d.Len() {
						t.Errorf("batch %d: visited %d of %d samples", batch, len(got), d.Len())
					}
					if shuffle == slices.IsSorted(got) {
						t.Errorf("batch %d shuffle %v: order sorted = %v", batch, shuffle, slices.IsSorted(got))
					}
				}
			}
		}
	}
}

func TestLoaderDeterminism(t *testing.T) {
	d := mnisttest.SyntheticDataset(200, 5, 5, 2)
	opt := mnist.LoaderOptions{BatchSize: 16, Shuffle: true, Seed: 1234}
	a, _ := mnist.NewLoader(d, opt)
	b, _ := mnist.NewLoader(d, opt)
	a0, _ := epoch(t, a, d, 0)
	b0, _ := epoch(t, b, d, 0)
	a1, _ := epoch(t, a, d, 1)
	if !slices.Equal(a0, b0) {
		t.Error("two loaders with the same seed gave different orders")
	}
	if slices.Equal(a0, a1) {
		t.Error("epochs 0 and 1 have the same order")
	}
	if again, _ := epoch(t, a, d, 0); !slices.Equal(again, a0) {
		t.Error("Reset(0) after epoch 1 did not replay epoch 0")
	}
	want := make([]int32, d.Len())
	mnist.Permutation(want, 1234, 1)
	if !slices.Equal(a1, want) {
		t.Error("epoch 1 does not follow Permutation(seed, 1)")
	}
	opt.Seed = 1235
	c, _ := mnist.NewLoader(d, opt)
	if c0, _ := epoch(t, c, d, 0); slices.Equal(c0, a0) {
		t.Error("seeds 1234 and 1235 gave the same order")
	}
}

func TestLoaderSeek(t *testing.T) {
	d := mnisttest.SyntheticDataset(50, 4, 4, 3)
	for _, dropLast := range []bool{false, true} {
		l, err := mnist.NewLoader(d, mnist.LoaderOptions{BatchSize: 8, Shuffle: true, Seed: 5, DropLast: dropLast})
		if err != nil {
			t.Fatal(err)
		}
		var batches [][]int32
		for l.Next() {
			batches = append(batches, slices.Clone(l.Batch().Indices))
		}
		for step := -2; step <= len(batches)+2; step++ {
			l.Reset(0)
			l.Seek(step)
			var rest [][]int32
			for l.Next() {
				rest = append(rest, slices.Clone(l.Batch().Indices))
			}
			want := batches[min(max(step, 0), len(batches)):]
			if !slices.EqualFunc(rest, want, slices.Equal) {
				t.Errorf("dropLast %v: after Seek(%d) got %d batches %v, want %d %v", dropLast, step, len(rest), rest, len(want), want)
			}
		}
		l.Seek(math.MaxInt)
		if l.Next() {
			t.Error("Next after Seek(MaxInt) returned a batch")
		}
	}
}

func TestPixelTable(t *testing.T) {
	plain := mnist.PixelTable(0, 0)
	norm := mnist.PixelTable(0.1307, 0.3081) // MNIST's published mean and std
	for _, c := range []struct {
		p           int
		plain, norm float64
	}{
		{0, 0, -0.42421292},
		{1, 0.00392157, -0.41148461},
		{128, 0.50196078, 1.20500092},
		{255, 1, 2.82148653},
	} {
		if math.Abs(float64(plain[c.p])-c.plain) > 1e-6 {
			t.Errorf("PixelTable(0, 0)[%d] = %.8f, want %.8f", c.p, plain[c.p], c.plain)
		}
		if math.Abs(float64(norm[c.p])-c.norm) > 1e-6 {
			t.Errorf("PixelTable(0.1307, 0.3081)[%d] = %.8f, want %.8f", c.p, norm[c.p], c.norm)
		}
	}
	for p := 1; p < 256; p++ {
		if plain[p] <= plain[p-1] || norm[p] <= norm[p-1] {
			t.Fatalf("tables not increasing at %d", p)
		}
	}
}

func TestLoaderNormalises(t *testing.T) {
	d := &mnist.Dataset{Name: "tiny", Images: []uint8{0, 255, 51, 102}, Labels: []uint8{3, 7}, Rows: 1, Cols: 2}
	for _, c := range []struct {
		mean, std float32
		want      []float32
	}{
		{0, 0, []float32{0, 1, 0.2, 0.4}},
		{0.5, 0, []float32{0, 1, 0.2, 0.4}}, // std 0: no normalisation, mean ignored
		{0.5, 0.25, []float32{-2, 2, -1.2, -0.4}},
	} {
		l, err := mnist.NewLoader(d, mnist.LoaderOptions{BatchSize: 2, Mean: c.mean, Std: c.std})
		if err != nil {
			t.Fatal(err)
		}
		if !l.Next() {
			t.Fatal("no batch")
		}
		b := l.Batch()
		for i, x := range b.X {
			if math.Abs(float64(x-c.want[i])) > 1e-6 {
				t.Errorf("mean %g std %g: X = %v, want %v", c.mean, c.std, b.X, c.want)
				break
			}
		}
		if !slices.Equal(b.Labels, []int32{3, 7}) {
			t.Errorf("labels %v, want [3 7]", b.Labels)
		}
	}
}

// Once warm, Next and Reset allocate nothing, with or without shuffling.
func TestLoaderAllocs(t *testing.T) {
	d := mnisttest.SyntheticDataset(500, 28, 28, 4)
	for _, shuffle := range []bool{false, true} {
		l, err := mnist.NewLoader(d, mnist.LoaderOptions{BatchSize: 64, Shuffle: shuffle, Seed: 1, Std: 0.3})
		if err != nil {
			t.Fatal(err)
		}
		e := 0
		step := func() {
			if !l.Next() {
				e++
				l.Reset(e)
				l.Next()
			}
			_ = l.Batch()
		}
		step()
		// 100 runs cross several epoch boundaries (8 batches each).
		if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
			t.Errorf("shuffle %v: %v allocations per batch, want 0", shuffle, allocs)
		}
		if e < 5 {
			t.Fatalf("only %d epochs ran: the test did not cross epoch boundaries", e)
		}
	}
}

func TestNewLoaderRefuses(t *testing.T) {
	d := mnisttest.SyntheticDataset(10, 4, 4, 5)
	d.Name = "tiny-set"
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	for _, c := range []struct {
		name string
		d    *mnist.Dataset
		opt  mnist.LoaderOptions
		want string
	}{
		{"zero batch", d, mnist.LoaderOptions{}, "batch size 0: must be at least 1"},
		{"negative batch", d, mnist.LoaderOptions{BatchSize: -3}, "batch size -3"},
		{"drop-last drops all", d, mnist.LoaderOptions{BatchSize: 11, DropLast: true}, "batch size 11 is larger than tiny-set, which holds 10 samples"},
		{"negative std", d, mnist.LoaderOptions{BatchSize: 1, Std: -1}, "normalisation std -1"},
		{"NaN std", d, mnist.LoaderOptions{BatchSize: 1, Std: nan}, "normalisation std NaN"},
		{"Inf std", d, mnist.LoaderOptions{BatchSize: 1, Std: inf}, "normalisation std +Inf"},
		{"NaN mean", d, mnist.LoaderOptions{BatchSize: 1, Mean: nan, Std: 1}, "normalisation mean NaN"},
		{"empty data set", &mnist.Dataset{Name: "nothing", Rows: 2, Cols: 2}, mnist.LoaderOptions{BatchSize: 1}, "nothing holds no samples"},
		{"pixels missing", &mnist.Dataset{Name: "odd", Images: make([]uint8, 7), Labels: []uint8{1, 2}, Rows: 2, Cols: 2}, mnist.LoaderOptions{BatchSize: 1}, "odd: 7 pixels for 2 images of 2×2"},
		{"no columns", &mnist.Dataset{Name: "flat", Labels: []uint8{1}, Rows: 2}, mnist.LoaderOptions{BatchSize: 1}, "flat: 0 pixels for 1 images of 2×0"},
	} {
		l, err := mnist.NewLoader(c.d, c.opt)
		if l != nil {
			t.Errorf("%s: got a loader with the error", c.name)
		}
		wantErr(t, err, c.want)
	}
}
