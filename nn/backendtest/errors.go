package backendtest

import (
	"regexp"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// foreign is a Buffer that no backend allocated.
type foreign struct{}

func (foreign) DType() nn.DType            { return nn.Float32 }
func (foreign) Len() int                   { return 1 << 20 }
func (foreign) Slice(off, n int) nn.Buffer { return foreign{} }

// errFixture holds valid operands for every op at small shapes, so that each
// error case can swap one of them for a bad one.
type errFixture struct {
	f32, short, i32, u8, order nn.Buffer
	other                      nn.Buffer // a float32 buffer of a second backend instance
}

// errCase is one misuse: the op it calls, the operand it gets wrong, and
// the call itself.
type errCase struct {
	name, op, operand string
	call              func(b nn.Backend, f errFixture)
}

// errCases gives every op a buffer that is too short for the shape, and
// some ops a buffer of the wrong type, a foreign buffer, a buffer of another
// backend, or a negative dimension.
var errCases = []errCase{
	{"Gemm/short C", "Gemm", "C", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 4, N: 4, K: 4, Alpha: 1, A: f.f32, B: f.f32, C: f.short})
	}},
	{"Gemm/short A transposed", "Gemm", "A", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{TransA: true, M: 4, N: 4, K: 8, Alpha: 1, A: f.short, B: f.f32, C: f.f32})
	}},
	{"Gemm/short B", "Gemm", "B", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{TransB: true, M: 2, N: 8, K: 4, Alpha: 1, A: f.f32, B: f.short, C: f.f32})
	}},
	{"Gemm/short Bias", "Gemm", "Bias", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 2, N: 20, K: 2, Alpha: 1, A: f.f32, B: f.f32, C: f.f32, Bias: f.short})
	}},
	{"Gemm/short Mask", "Gemm", "Mask", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 4, N: 4, K: 4, Alpha: 1, A: f.f32, B: f.f32, C: f.f32, Mask: f.short})
	}},
	{"Gemm/int32 A", "Gemm", "A", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 2, N: 2, K: 2, Alpha: 1, A: f.i32, B: f.f32, C: f.f32})
	}},
	{"Gemm/foreign B", "Gemm", "B", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 2, N: 2, K: 2, Alpha: 1, A: f.f32, B: foreign{}, C: f.f32})
	}},
	{"Gemm/C of another backend", "Gemm", "C", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 2, N: 2, K: 2, Alpha: 1, A: f.f32, B: f.f32, C: f.other})
	}},
	{"Gemm/negative K", "Gemm", "K", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 2, N: 2, K: -1, Alpha: 1, A: f.f32, B: f.f32, C: f.f32})
	}},
	{"ReLU/short x", "ReLU", "x", func(b nn.Backend, f errFixture) { b.ReLU(f.short, 9) }},
	{"ReLU/uint8 x", "ReLU", "x", func(b nn.Backend, f errFixture) { b.ReLU(f.u8, 4) }},
	{"ReLUBackward/short grad", "ReLUBackward", "grad", func(b nn.Backend, f errFixture) { b.ReLUBackward(f.short, f.f32, 9) }},
	{"ReLUBackward/short out", "ReLUBackward", "out", func(b nn.Backend, f errFixture) { b.ReLUBackward(f.f32, f.short, 9) }},
	{"SoftmaxCrossEntropy/short logits", "SoftmaxCrossEntropy", "logits", func(b nn.Backend, f errFixture) {
		b.SoftmaxCrossEntropy(f.f32, f.f32, f.short, f.i32, 3, 4)
	}},
	{"SoftmaxCrossEntropy/short grad", "SoftmaxCrossEntropy", "grad", func(b nn.Backend, f errFixture) {
		b.SoftmaxCrossEntropy(f.f32, f.short, f.f32, f.i32, 3, 4)
	}},
	{"SoftmaxCrossEntropy/float32 labels", "SoftmaxCrossEntropy", "labels", func(b nn.Backend, f errFixture) {
		b.SoftmaxCrossEntropy(f.f32, f.f32, f.f32, f.f32, 3, 4)
	}},
	{"SoftmaxCrossEntropy/short labels", "SoftmaxCrossEntropy", "labels", func(b nn.Backend, f errFixture) {
		b.SoftmaxCrossEntropy(f.f32, nil, f.f32, f.order, 20, 1)
	}},
	{"ColumnSums/short dst", "ColumnSums", "dst", func(b nn.Backend, f errFixture) { b.ColumnSums(f.short, f.f32, 2, 10) }},
	{"ColumnSums/short src", "ColumnSums", "src", func(b nn.Backend, f errFixture) { b.ColumnSums(f.f32, f.short, 3, 3) }},
	{"Argmax/uint8 dst", "Argmax", "dst", func(b nn.Backend, f errFixture) { b.Argmax(f.u8, f.f32, 2, 2) }},
	{"Argmax/short src", "Argmax", "src", func(b nn.Backend, f errFixture) { b.Argmax(f.i32, f.short, 3, 3) }},
	{"Gather/short x", "Gather", "x", func(b nn.Backend, f errFixture) {
		b.Gather(f.short, f.i32, f.u8, f.u8, f.order, 0, 2, 8, 1, 0)
	}},
	{"Gather/short order", "Gather", "order", func(b nn.Backend, f errFixture) {
		b.Gather(f.f32, f.i32, f.u8, f.u8, f.order, 3, 2, 2, 1, 0)
	}},
	{"Gather/float32 images", "Gather", "images", func(b nn.Backend, f errFixture) {
		b.Gather(f.f32, f.i32, f.f32, f.u8, f.order, 0, 2, 2, 1, 0)
	}},
	{"SGD/short grads", "SGD", "grads", func(b nn.Backend, f errFixture) { b.SGD(f.f32, f.short, nil, 0.1, 0, 0, false) }},
	{"SGD/short velocity", "SGD", "velocity", func(b nn.Backend, f errFixture) { b.SGD(f.f32, f.f32, f.short, 0.1, 0.9, 0, false) }},
	{"Adam/short m", "Adam", "m", func(b nn.Backend, f errFixture) { b.Adam(f.f32, f.f32, f.short, f.f32, 0.1, 0.9, 0.999, 1e-8, 0, 1) }},
	{"Adam/short v", "Adam", "v", func(b nn.Backend, f errFixture) { b.Adam(f.f32, f.f32, f.f32, f.short, 0.1, 0.9, 0.999, 1e-8, 0, 1) }},

	// Rules on which the cpu and cuda backends once disagreed, pinned by
	// nn's contract (nn/contract.go): every dimension is at most MaxInt32
	// (the cpu backend accepted a larger M when N and K were 0), a Gather's
	// images have at least one pixel (cpu accepted pixels = 0, which leaves
	// the number of images in the data set undefined).
	{"Gemm/M above MaxInt32", "Gemm", "M", func(b nn.Backend, f errFixture) {
		b.Gemm(nn.Gemm{M: 1 << 31, N: 0, K: 0, Alpha: 1, A: f.f32, B: f.f32, C: f.f32})
	}},
	{"Gather/zero pixels", "Gather", "pixels", func(b nn.Backend, f errFixture) {
		b.Gather(f.f32, f.i32, f.u8, f.u8, f.order, 0, 2, 0, 1, 0)
	}},
	{"GatherAffine/zero width", "GatherAffine", "images", func(b nn.Backend, f errFixture) {
		b.GatherAffine(f.f32, f.i32, f.u8, f.u8, f.order, f.f32, 0, 2, 2, 0, 1, 0)
	}},
}

// testErrors runs every misuse on a fresh backend and checks that Sync
// reports it with a message naming the op and the operand, that the error
// is sticky (a later valid op neither clears nor replaces it, Download
// returns it too), and that the valid op was skipped.
func (s *suite) testErrors(t *testing.T) {
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			x := s.backend(t)
			other := s.backend(t)
			f := errFixture{
				f32:   x.upload(filled(64, 1)),
				short: x.upload(filled(8, 1)),
				i32:   x.upload(make([]int32, 64)),
				u8:    x.upload(make([]uint8, 64)),
				order: x.upload([]int32{0, 1, 2, 3}),
				other: other.upload(filled(64, 1)),
			}
			probe := x.upload([]float32{-1, 2})
			x.sync()

			c.call(x.b, f)
			err := x.b.Sync()
			if err == nil {
				t.Fatalf("Sync after %s: no error", c.name)
			}
			msg := err.Error()
			for _, word := range []string{c.op, c.operand} {
				if !regexp.MustCompile(`\b` + regexp.QuoteMeta(word) + `\b`).MatchString(msg) {
					t.Errorf("error %q does not name %q", msg, word)
				}
			}

			x.b.ReLU(probe, 2) // valid, but must be skipped
			if err2 := x.b.Sync(); err2 == nil || err2.Error() != msg {
				t.Errorf("Sync after a later valid op: %v, want the first error again (%q)", err2, msg)
			}
			if err3 := x.b.Download(make([]float32, 2), probe); err3 == nil {
				t.Error("Download after an error: no error")
			} else if err3.Error() != msg {
				t.Errorf("Download after an error: %q, want the first error %q", err3, msg)
			}
		})
	}
	t.Run("valid ops after Sync", func(t *testing.T) {
		// Zero-sized and exactly-sized operands are not errors.
		x := s.backend(t)
		b := x.upload(filled(6, -1))
		x.b.ReLU(b, 6)
		x.b.ColumnSums(x.alloc(nn.Float32, 0), b, 6, 0)
		x.sync()
		sameBits(t, "ReLU of exactly 6", x.f32(b, 6), make([]float32, 6))
	})
	t.Run("Close", func(t *testing.T) {
		x := s.backend(t)
		x.upload(filled(4, 1))
		if err := x.close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
}
