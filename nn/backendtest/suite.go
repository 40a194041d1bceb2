// Package backendtest is the conformance suite for nn.Backend
// implementations. Every backend's tests call Run; the suite runs every op
// over tables of shapes (including awkward ones that are not multiples of
// any tile), checks the results against the reference backend (nn/naive)
// and against independent formulas, checks guard bands around outputs, error
// reporting, optimiser updates, a short training run and finite-difference
// gradients of the whole forward/backward chain.
//
// The suite only touches a backend through nn.Backend (Alloc, Upload,
// Download, the ops), so it works for backends whose buffers live in device
// memory.
//
// Tolerances. Results are compared elementwise as |got − want| ≤ atol +
// rtol·scale, where scale is the sum of the magnitudes of the terms that
// formed the value (for a GEMM element, |α|·Σ_k|op(A)[i,k]·op(B)[k,j]| +
// |β·C[i,j]| + |bias[j]|). For a float32 sum of n terms, any summation
// order keeps the error below (n−1)·u·scale with u = 2⁻²⁴ (the unit
// roundoff); the suite allows twice that plus a few roundings: rtol =
// 2·(n+3)·u, atol = 1e-6 (about 1e-4·scale for K = 784). Elementwise ops
// that round once (ReLU, masks, bias add) must match to that bound with n = 1.
package backendtest

import (
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

// Run runs the conformance suite against the backends that open returns.
// Run calls open once per subtest (each starts from a fresh backend, since
// errors are sticky) and closes the backend when the subtest ends; open
// should call t.Skip when the backend cannot run here.
func Run(t *testing.T, open func(t *testing.T) nn.Backend) {
	s := &suite{open: open}
	t.Run("Buffers", s.testBuffers)
	t.Run("Slices", s.testSlices)
	t.Run("Errors", s.testErrors)
	t.Run("GemmKnownValues", s.testGemmKnownValues)
	t.Run("Gemm", s.testGemm)
	t.Run("GemmDegenerate", s.testGemmDegenerate)
	t.Run("ReLU", s.testReLU)
	t.Run("ReLUBackward", s.testReLUBackward)
	t.Run("ColumnSums", s.testColumnSums)
	t.Run("Argmax", s.testArgmax)
	t.Run("SoftmaxCrossEntropy", s.testSoftmaxCrossEntropy)
	t.Run("SoftmaxCrossEntropyStability", s.testSoftmaxStability)
	t.Run("Gather", s.testGather)
	t.Run("GatherAffine", s.testGatherAffine)
	t.Run("Im2Col", s.testIm2Col)
	t.Run("Col2Im", s.testCol2Im)
	t.Run("MaxPool2D", s.testMaxPool2D)
	t.Run("MaxPool2DBackward", s.testMaxPool2DBackward)
	t.Run("SGD", s.testSGD)
	t.Run("Adam", s.testAdam)
	t.Run("Training", s.testTraining)
	t.Run("GradientCheck", s.testGradientCheck)
	t.Run("ConvGradientCheck", s.testConvGradientCheck)
}

type suite struct {
	open func(t *testing.T) nn.Backend
}

// backend opens the backend under test for one subtest and closes it at the
// end unless the test closed it itself.
func (s *suite) backend(t *testing.T) *tb {
	t.Helper()
	b := s.open(t)
	if b == nil {
		t.Fatal("open returned a nil backend")
	}
	x := &tb{T: t, b: b}
	t.Cleanup(func() {
		if !x.closed {
			if err := b.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return x
}

// reference opens the reference backend for one subtest.
func reference(t *testing.T) *tb {
	b := naive.New()
	x := &tb{T: t, b: b}
	t.Cleanup(func() { b.Close() })
	return x
}

// tb pairs a backend with the test that uses it, so helpers can fail the
// test instead of returning errors.
type tb struct {
	*testing.T
	b      nn.Backend
	closed bool
}

// with returns a tb for a subtest of x's test, on the same backend.
func (x *tb) with(t *testing.T) *tb { return &tb{T: t, b: x.b} }

// alloc allocates n elements of type d or fails the test.
func (x *tb) alloc(d nn.DType, n int) nn.Buffer {
	x.Helper()
	buf, err := x.b.Alloc(d, n)
	if err != nil {
		x.Fatalf("Alloc(%v, %d): %v", d, n, err)
	}
	if buf.Len() != n || buf.DType() != d {
		x.Fatalf("Alloc(%v, %d) returned a buffer of %v × %d", d, n, buf.DType(), buf.Len())
	}
	return buf
}

// upload allocates a buffer holding data ([]float32, []int32 or []uint8).
func (x *tb) upload(data any) nn.Buffer {
	x.Helper()
	var buf nn.Buffer
	switch d := data.(type) {
	case []float32:
		buf = x.alloc(nn.Float32, len(d))
	case []int32:
		buf = x.alloc(nn.Int32, len(d))
	case []uint8:
		buf = x.alloc(nn.Uint8, len(d))
	default:
		x.Fatalf("upload: unsupported %T", data)
	}
	x.put(buf, data)
	return buf
}

// put uploads data to the start of buf or fails the test.
func (x *tb) put(buf nn.Buffer, data any) {
	x.Helper()
	if err := x.b.Upload(buf, data); err != nil {
		x.Fatalf("Upload: %v", err)
	}
}

// f32 downloads the first n elements of a float32 buffer.
func (x *tb) f32(buf nn.Buffer, n int) []float32 {
	x.Helper()
	out := make([]float32, n)
	if err := x.b.Download(out, buf); err != nil {
		x.Fatalf("Download: %v", err)
	}
	return out
}

// i32 downloads the first n elements of an int32 buffer.
func (x *tb) i32(buf nn.Buffer, n int) []int32 {
	x.Helper()
	out := make([]int32, n)
	if err := x.b.Download(out, buf); err != nil {
		x.Fatalf("Download: %v", err)
	}
	return out
}

// sync fails the test when the backend has met an error.
func (x *tb) sync() {
	x.Helper()
	if err := x.b.Sync(); err != nil {
		x.Fatalf("Sync: %v", err)
	}
}

// close closes the backend early; the cleanup then leaves it alone.
func (x *tb) close() error {
	x.closed = true
	return x.b.Close()
}
