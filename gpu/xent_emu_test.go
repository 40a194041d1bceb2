package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// TestSoftmaxCrossEntropyLastBlock runs softmax_xent_f32 several times on
// one backend, with grids of 1, several and the most blocks (more rows
// than the blocks' warps, so warps take several rows), kernel by kernel
// and inside a recording replayed twice: every loss must match the
// reference, so the last block always sums every block's partial and
// leaves the count of finished blocks at 0 for the next launch.
func TestSoftmaxCrossEntropyLastBlock(t *testing.T) {
	const cols = 10
	sizes := []int{5, 64, 1, 8*xentMaxBlocks + 77, 64}
	r := rand.New(rand.NewPCG(11, 12))
	b, _ := openEmu(t)
	ref := naive.New()
	type batch struct {
		rows                 int
		loss, refLoss        nn.Buffer
		logits, labels       nn.Buffer
		refLogits, refLabels nn.Buffer
	}
	var batches []batch
	for _, rows := range sizes {
		logits := randF32(r, rows*cols)
		labels := make([]int32, rows)
		for i := range labels {
			labels[i] = int32(r.IntN(cols))
		}
		x := batch{rows: rows}
		x.loss, x.logits, x.labels = upload(t, b, []float32{42}), upload(t, b, logits), uploadI32(t, b, labels)
		x.refLoss, x.refLogits, x.refLabels = upload(t, ref, []float32{42}), upload(t, ref, logits), uploadI32(t, ref, labels)
		ref.SoftmaxCrossEntropy(x.refLoss, nil, x.refLogits, x.refLabels, rows, cols)
		batches = append(batches, x)
	}
	check := func(how string) {
		t.Helper()
		for _, x := range batches {
			closeTo(t, fmt.Sprintf("%s: loss of %d rows", how, x.rows), download(t, b, x.loss), download(t, ref, x.refLoss), 1e-5, 1e-5)
		}
		var done [4]byte
		if err := b.dev.download(hostCopy{dst: done[:], src: b.status + xentDoneOffset}); err != nil {
			t.Fatal(err)
		}
		if n := binary.LittleEndian.Uint32(done[:]); n != 0 {
			t.Fatalf("%s: %d finished blocks left in the count", how, n)
		}
	}
	all := func() {
		for _, x := range batches {
			b.SoftmaxCrossEntropy(x.loss, nil, x.logits, x.labels, x.rows, cols)
		}
	}
	all()
	check("kernel by kernel")
	rec, err := b.Record(all)
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Close()
	for i := 0; i < 2; i++ {
		for _, x := range batches {
			if err := b.Upload(x.loss, []float32{float32(math.NaN())}); err != nil {
				t.Fatal(err)
			}
		}
		if err := rec.Replay(); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("replay %d", i+1))
	}
	if got := xentBlocks(sizes[3]); got != xentMaxBlocks {
		t.Errorf("%d rows: %d blocks, want the most, %d", sizes[3], got, xentMaxBlocks)
	}
}
