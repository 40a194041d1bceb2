package gpu

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// mlp is the tutorial's network, 784-64-32-10 with ReLU, batch 64, trained
// with plain SGD, written directly in backend ops: the op sequence a
// training step of nn's trainer issues. Parameters and gradients are each
// one flat buffer, so SGD is one launch.
type mlp struct {
	be                        nn.Backend
	batch, pixels, count      int
	images, labels, order     nn.Buffer
	x, y, h1, h2, z, dz       nn.Buffer
	dh1, dh2                  nn.Buffer
	params, grads, losses     nn.Buffer
	w1, b1, w2, b2, w3, b3    nn.Buffer
	g1, gb1, g2, gb2, g3, gb3 nn.Buffer
}

const (
	mlpIn, mlpH1, mlpH2, mlpOut = 784, 64, 32, 10
	mlpParamCount               = mlpH1*mlpIn + mlpH1 + mlpH2*mlpH1 + mlpH2 + mlpOut*mlpH2 + mlpOut
)

// syntheticData makes count images whose label is the brightest of ten
// bands, so that a network can learn it.
func syntheticData(count int, seed uint64) ([]uint8, []uint8) {
	r := rand.New(rand.NewPCG(seed, 1))
	images := make([]uint8, count*mlpIn)
	labels := make([]uint8, count)
	for i := 0; i < count; i++ {
		label := r.IntN(10)
		labels[i] = uint8(label)
		for j := 0; j < mlpIn; j++ {
			v := r.IntN(128)
			if j*10/mlpIn == label {
				v += 100
			}
			images[i*mlpIn+j] = uint8(v)
		}
	}
	return images, labels
}

func initialParams(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	p := make([]float32, mlpParamCount)
	for i := range p {
		p[i] = float32(r.NormFloat64() * 0.05)
	}
	return p
}

func newMLP(tb testing.TB, be nn.Backend, count, steps int) *mlp {
	tb.Helper()
	m := &mlp{be: be, batch: 64, pixels: mlpIn, count: count}
	alloc := func(t nn.DType, n int) nn.Buffer {
		b, err := be.Alloc(t, n)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	images, labels := syntheticData(count, 1)
	m.images, m.labels = alloc(nn.Uint8, len(images)), alloc(nn.Uint8, len(labels))
	order := make([]int32, count)
	for i, p := range rand.New(rand.NewPCG(3, 3)).Perm(count) {
		order[i] = int32(p)
	}
	m.order = alloc(nn.Int32, count)
	for _, u := range []struct {
		dst nn.Buffer
		src any
	}{{m.images, images}, {m.labels, labels}, {m.order, order}} {
		if err := be.Upload(u.dst, u.src); err != nil {
			tb.Fatal(err)
		}
	}
	B := m.batch
	m.x, m.y = alloc(nn.Float32, B*mlpIn), alloc(nn.Int32, B)
	m.h1, m.h2, m.z = alloc(nn.Float32, B*mlpH1), alloc(nn.Float32, B*mlpH2), alloc(nn.Float32, B*mlpOut)
	m.dz, m.dh1, m.dh2 = alloc(nn.Float32, B*mlpOut), alloc(nn.Float32, B*mlpH1), alloc(nn.Float32, B*mlpH2)
	m.params, m.grads, m.losses = alloc(nn.Float32, mlpParamCount), alloc(nn.Float32, mlpParamCount), alloc(nn.Float32, steps)
	if err := be.Upload(m.params, initialParams(1)); err != nil {
		tb.Fatal(err)
	}
	split := func(buf nn.Buffer) []nn.Buffer {
		var out []nn.Buffer
		off := 0
		for _, n := range []int{mlpH1 * mlpIn, mlpH1, mlpH2 * mlpH1, mlpH2, mlpOut * mlpH2, mlpOut} {
			out = append(out, buf.Slice(off, n))
			off += n
		}
		return out
	}
	p, g := split(m.params), split(m.grads)
	m.w1, m.b1, m.w2, m.b2, m.w3, m.b3 = p[0], p[1], p[2], p[3], p[4], p[5]
	m.g1, m.gb1, m.g2, m.gb2, m.g3, m.gb3 = g[0], g[1], g[2], g[3], g[4], g[5]
	return m
}

// step queues training step s: batch s of the order, loss into losses[s].
func (m *mlp) step(s int, lr float32) {
	be, B := m.be, m.batch
	be.Gather(m.x, m.y, m.images, m.labels, m.order, s*B, B, mlpIn, 1.0/255, 0)
	// Forward: h1 = relu(x·W1ᵀ + b1), h2 = relu(h1·W2ᵀ + b2), z = h2·W3ᵀ + b3.
	be.Gemm(nn.Gemm{TransB: true, M: B, N: mlpH1, K: mlpIn, Alpha: 1, A: m.x, B: m.w1, C: m.h1, Bias: m.b1, ReLU: true})
	be.Gemm(nn.Gemm{TransB: true, M: B, N: mlpH2, K: mlpH1, Alpha: 1, A: m.h1, B: m.w2, C: m.h2, Bias: m.b2, ReLU: true})
	be.Gemm(nn.Gemm{TransB: true, M: B, N: mlpOut, K: mlpH2, Alpha: 1, A: m.h2, B: m.w3, C: m.z, Bias: m.b3})
	be.SoftmaxCrossEntropy(m.losses.Slice(s, 1), m.dz, m.z, m.y, B, mlpOut)
	// Backward.
	be.Gemm(nn.Gemm{TransA: true, M: mlpOut, N: mlpH2, K: B, Alpha: 1, A: m.dz, B: m.h2, C: m.g3})
	be.ColumnSums(m.gb3, m.dz, B, mlpOut)
	be.Gemm(nn.Gemm{M: B, N: mlpH2, K: mlpOut, Alpha: 1, A: m.dz, B: m.w3, C: m.dh2, Mask: m.h2})
	be.Gemm(nn.Gemm{TransA: true, M: mlpH2, N: mlpH1, K: B, Alpha: 1, A: m.dh2, B: m.h1, C: m.g2})
	be.ColumnSums(m.gb2, m.dh2, B, mlpH2)
	be.Gemm(nn.Gemm{M: B, N: mlpH1, K: mlpH2, Alpha: 1, A: m.dh2, B: m.w2, C: m.dh1, Mask: m.h1})
	be.Gemm(nn.Gemm{TransA: true, M: mlpH1, N: mlpIn, K: B, Alpha: 1, A: m.dh1, B: m.x, C: m.g1})
	be.ColumnSums(m.gb1, m.dh1, B, mlpH1)
	be.SGD(m.params, m.grads, nil, lr, 0, 0, false)
}

func (m *mlp) read(tb testing.TB, buf nn.Buffer) []float32 {
	tb.Helper()
	out := make([]float32, buf.Len())
	if err := m.be.Download(out, buf); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestTrainingMatchesReference trains the tutorial MLP for a few steps on
// this backend and on the naive reference and compares the losses and the
// final parameters.
func TestTrainingMatchesReference(t *testing.T) {
	const steps, lr = 8, 0.3
	g, _ := openEmu(t)
	var losses, params [2][]float32
	for i, be := range []nn.Backend{g, naive.New()} {
		m := newMLP(t, be, steps*64, steps)
		for s := 0; s < steps; s++ {
			m.step(s, lr)
		}
		losses[i], params[i] = m.read(t, m.losses), m.read(t, m.params)
	}
	t.Logf("losses: %v", losses[0])
	closeTo(t, "losses", losses[0], losses[1], 1e-4, 1e-3)
	closeTo(t, "params", params[0], params[1], 1e-4, 1e-3)
	if !(losses[0][steps-1] < losses[0][0]) {
		t.Errorf("the loss did not go down: %v", losses[0])
	}
}

// TestRecordReplay records steps and replays them: the result must be what
// running the same steps directly gives.
func TestRecordReplay(t *testing.T) {
	const steps, lr = 3, 0.05
	var params [2][]float32
	for i := range params {
		b, _ := openEmu(t)
		m := newMLP(t, b, steps*64, steps)
		if i == 0 {
			for s := 0; s < steps; s++ {
				m.step(s, lr)
			}
			m.step(0, lr)
		} else {
			rec, err := b.Record(func() {
				for s := 0; s < steps; s++ {
					m.step(s, lr)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			// Nothing ran yet: the parameters are the initial ones.
			closeTo(t, "params before replay", m.read(t, m.params), initialParams(1), 0, 0)
			if err := rec.Replay(); err != nil {
				t.Fatal(err)
			}
			m.step(0, lr)
			if err := rec.Close(); err != nil {
				t.Fatal(err)
			}
		}
		params[i] = m.read(t, m.params)
	}
	closeTo(t, "params", params[1], params[0], 0, 0)
}

func TestRecordRejectsHostOps(t *testing.T) {
	b, _ := openEmu(t)
	buf, err := b.Alloc(nn.Float32, 4)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Record(func() {
		b.Upload(buf, []float32{1})
	})
	if err == nil {
		t.Fatal("Record with an Upload inside succeeded")
	}
	if b.Sync() == nil {
		t.Fatal("the error inside Record is not sticky")
	}
}

func TestErrorsAreStickyAndNamed(t *testing.T) {
	b, _ := openEmu(t)
	other, _ := openEmu(t)
	x, _ := b.Alloc(nn.Float32, 4)
	foreign, _ := other.Alloc(nn.Float32, 4)
	for _, c := range []struct {
		name string
		op   func()
		want string
	}{
		{"short", func() { b.ReLU(x, 5) }, "x holds 4 elements, but n needs 5"},
		{"foreign", func() { b.ReLU(foreign, 1) }, "not a buffer of this cuda backend"},
		{"dtype", func() { b.Argmax(x, x, 1, 1) }, "dst holds float32, want int32"},
		{"overlap", func() { b.Gemm(nn.Gemm{M: 1, N: 1, K: 1, A: x, B: x, C: x}) }, "C overlaps A"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.err = nil
			c.op()
			b.ReLU(x, 1) // skipped: the error is sticky
			err := b.Sync()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Sync = %v, want an error containing %q", err, c.want)
			}
		})
	}
	b.err = nil
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Slice out of range did not panic")
			}
		}()
		x.Slice(2, 3)
	}()
	b.Free(x.Slice(0, 2))
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "Slice") {
		t.Errorf("Free of a Slice: Sync = %v", err)
	}
}

// TestStickyFaultRefusesWork stands a device fault in (what an illegal
// address in a kernel does to a CUDA context): every later op of every
// backend on that device fails with the fault named, and nothing runs.
func TestStickyFaultRefusesWork(t *testing.T) {
	b, d := openEmu(t)
	if d == nil {
		t.Skip("needs the emulator: a real fault cannot be planted safely")
	}
	x, err := b.Alloc(nn.Float32, 4)
	if err != nil {
		t.Fatal(err)
	}
	d.faulted = errors.New("cuLaunchKernel: CUDA_ERROR_ILLEGAL_ADDRESS")
	before := d.launches
	b.ReLU(x, 4)
	if d.launches != before {
		t.Error("a kernel ran after the fault")
	}
	if err := b.Sync(); err == nil || !strings.Contains(err.Error(), "ILLEGAL_ADDRESS") {
		t.Errorf("Sync after a fault = %v, want the fault named", err)
	}
	if _, err := b.Alloc(nn.Float32, 1); err == nil {
		t.Error("Alloc after a fault succeeded")
	}
	d.faulted = nil // let Cleanup close the backend
}
