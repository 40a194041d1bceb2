package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// testBuffers checks Alloc (zeroed, right length and type) and the
// Upload/Download round trip for every DType and several lengths, including
// partial transfers and the errors for a wrong slice type or length.
func (s *suite) testBuffers(t *testing.T) {
	x := s.backend(t)
	r := newRand(11)
	for _, n := range []int{0, 1, 31, 1000} {
		t.Run(fmt.Sprintf("float32/%d", n), func(t *testing.T) {
			x := x.with(t)
			buf := x.alloc(nn.Float32, n)
			sameBits(t, "fresh buffer", x.f32(buf, n), make([]float32, n))
			data := normals(r, n, 1)
			if n > 0 {
				data[0] = float32(math.Inf(-1))
				data[n-1] = float32(math.Copysign(0, -1))
			}
			x.put(buf, data)
			sameBits(t, "round trip", x.f32(buf, n), data)
			if n > 1 { // a shorter upload touches only the start; a shorter download reads only the start
				x.put(buf, []float32{42})
				want := append([]float32{42}, data[1:]...)
				sameBits(t, "after a 1-element upload", x.f32(buf, n), want)
				sameBits(t, "prefix download", x.f32(buf, n/2), want[:n/2])
			}
			if err := x.b.Upload(buf, make([]float32, n+1)); err == nil {
				t.Errorf("Upload of %d elements into a buffer of %d: no error", n+1, n)
			}
			if err := x.b.Download(make([]float32, n+1), buf); err == nil {
				t.Errorf("Download of %d elements from a buffer of %d: no error", n+1, n)
			}
			if err := x.b.Upload(buf, make([]int32, 1)); err == nil {
				t.Error("Upload of []int32 into a float32 buffer: no error")
			}
			if err := x.b.Download(make([]uint8, 1), buf); err == nil {
				t.Error("Download of a float32 buffer into []uint8: no error")
			}
			if err := x.b.Upload(buf, []float64{1}); err == nil {
				t.Error("Upload of []float64: no error")
			}
			x.b.Free(buf)
			x.sync()
		})
		t.Run(fmt.Sprintf("int32/%d", n), func(t *testing.T) {
			x := x.with(t)
			buf := x.alloc(nn.Int32, n)
			sameInts(t, "fresh buffer", x.i32(buf, n), make([]int32, n))
			data := make([]int32, n)
			for k := range data {
				data[k] = int32(r.Uint32())
			}
			x.put(buf, data)
			sameInts(t, "round trip", x.i32(buf, n), data)
			if err := x.b.Upload(buf, make([]float32, 1)); err == nil {
				t.Error("Upload of []float32 into an int32 buffer: no error")
			}
			if err := x.b.Upload(buf, make([]int32, n+1)); err == nil {
				t.Errorf("Upload of %d elements into a buffer of %d: no error", n+1, n)
			}
			x.b.Free(buf)
			x.sync()
		})
		t.Run(fmt.Sprintf("uint8/%d", n), func(t *testing.T) {
			x := x.with(t)
			buf := x.alloc(nn.Uint8, n)
			got := make([]uint8, n)
			if err := x.b.Download(got, buf); err != nil {
				t.Fatal(err)
			}
			for k, v := range got {
				if v != 0 {
					t.Fatalf("fresh buffer: element %d is %d, want 0", k, v)
				}
			}
			data := make([]uint8, n)
			for k := range data {
				data[k] = uint8(k*37 + 11)
			}
			x.put(buf, data)
			if err := x.b.Download(got, buf); err != nil {
				t.Fatal(err)
			}
			for k := range got {
				if got[k] != data[k] {
					t.Fatalf("round trip: element %d is %d, want %d", k, got[k], data[k])
				}
			}
			if err := x.b.Download(make([]int32, 1), buf); err == nil && n > 0 {
				t.Error("Download of a uint8 buffer into []int32: no error")
			}
			x.b.Free(buf)
			x.sync()
		})
	}
}

// testSlices checks that views share memory with their buffer at the right
// offset, compose, and panic when out of range.
func (s *suite) testSlices(t *testing.T) {
	x := s.backend(t)
	base := x.upload(filled(100, 1))
	v := base.Slice(10, 50)
	if v.Len() != 50 || v.DType() != nn.Float32 {
		t.Fatalf("Slice(10, 50): Len %d DType %v, want 50 float32", v.Len(), v.DType())
	}
	w := v.Slice(5, 20) // elements [15, 35) of base
	if w.Len() != 20 {
		t.Fatalf("Slice(5, 20) of a view: Len %d, want 20", w.Len())
	}
	x.put(w, filled(20, 2))
	x.put(v, []float32{3}) // element 10
	want := filled(100, 1)
	want[10] = 3
	for k := 15; k < 35; k++ {
		want[k] = 2
	}
	sameBits(t, "base after writes through views", x.f32(base, 100), want)
	sameBits(t, "download through a view of a view", x.f32(w, 20), want[15:35])
	sameBits(t, "download through a view", x.f32(v, 50), want[10:60])

	// An op through a view touches only the view.
	x.b.ReLU(x.upload([]float32{}), 0) // an empty op is fine
	neg := x.upload(filled(30, -1))
	x.b.ReLU(neg.Slice(7, 9), 9)
	x.sync()
	wantNeg := filled(30, -1)
	for k := 7; k < 16; k++ {
		wantNeg[k] = 0
	}
	sameBits(t, "ReLU through Slice(7, 9)", x.f32(neg, 30), wantNeg)

	empty := base.Slice(100, 0)
	if empty.Len() != 0 {
		t.Errorf("Slice(100, 0): Len %d", empty.Len())
	}
	for _, bad := range [][2]int{{-1, 5}, {0, 101}, {99, 2}, {101, 0}, {5, -1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Slice(%d, %d) of a 100-element buffer did not panic", bad[0], bad[1])
				}
			}()
			base.Slice(bad[0], bad[1])
		}()
	}
	if u := x.alloc(nn.Uint8, 10).Slice(2, 3); u.DType() != nn.Uint8 || u.Len() != 3 {
		t.Errorf("uint8 Slice(2, 3): %v × %d", u.DType(), u.Len())
	}
}
