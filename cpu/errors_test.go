package cpu_test

import (
	"strings"
	"testing"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/naive"
)

func TestRegistered(t *testing.T) {
	b, why, err := nn.Open("cpu")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// The device names the kernels the ops run on.
	kernels := map[string]string{"avx512": "AVX-512 kernels", "avx2": "AVX2 kernels", "go": "pure Go"}[b.(*cpu.Backend).KernelPath()]
	if b.Name() != "cpu" || kernels == "" || !strings.Contains(b.Device(), kernels) || !strings.Contains(why, "cpu") {
		t.Errorf("Open(cpu): name %q, device %q, reason %q", b.Name(), b.Device(), why)
	}
	for _, name := range nn.Backends() {
		if name == "naive" {
			t.Error("the naive backend is registered; auto could pick it")
		}
	}
	a, _, err := nn.Open("auto")
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
}

// TestHostErrors covers misuse that the host backends detect beyond what
// the conformance suite asks of every backend: freeing views and freed
// buffers, in-place GEMMs, labels and indices out of range, ops after Close.
func TestHostErrors(t *testing.T) {
	for _, open := range []struct {
		name string
		new  func() nn.Backend
	}{{"cpu", func() nn.Backend { return cpu.New() }}, {"naive", func() nn.Backend { return naive.New() }}} {
		for _, c := range []struct {
			name string
			want string // words the error must contain
			run  func(b nn.Backend, f32, i32, u8 nn.Buffer)
		}{
			{"free a view", "Free Slice", func(b nn.Backend, f32, i32, u8 nn.Buffer) { b.Free(f32.Slice(1, 2)) }},
			{"free twice", "Free freed", func(b nn.Backend, f32, i32, u8 nn.Buffer) { b.Free(f32); b.Free(f32) }},
			{"use after free", "ReLU freed", func(b nn.Backend, f32, i32, u8 nn.Buffer) { b.Free(f32); b.ReLU(f32, 1) }},
			{"use a view after free", "ReLU freed", func(b nn.Backend, f32, i32, u8 nn.Buffer) { v := f32.Slice(0, 4); b.Free(f32); b.ReLU(v, 1) }},
			{"in-place GEMM", "Gemm overlaps", func(b nn.Backend, f32, i32, u8 nn.Buffer) {
				b.Gemm(nn.Gemm{M: 2, N: 2, K: 2, Alpha: 1, A: f32, B: f32.Slice(8, 4), C: f32.Slice(2, 4)})
			}},
			{"label out of range", "SoftmaxCrossEntropy labels[1] = 7", func(b nn.Backend, f32, i32, u8 nn.Buffer) {
				b.Upload(i32, []int32{0, 7})
				b.SoftmaxCrossEntropy(f32, nil, f32.Slice(1, 6), i32, 2, 3)
			}},
			{"image out of range", "Gather order[1] = 99", func(b nn.Backend, f32, i32, u8 nn.Buffer) {
				b.Upload(i32, []int32{0, 99})
				b.Gather(f32, i32.Slice(4, 2), u8, u8, i32, 0, 2, 4, 1, 0)
			}},
			{"Adam step 0", "Adam t = 0", func(b nn.Backend, f32, i32, u8 nn.Buffer) {
				b.Adam(f32, f32, f32, f32, 0.1, 0.9, 0.99, 1e-8, 0, 0)
			}},
			{"optimiser buffers of unequal length", "SGD grads equal lengths", func(b nn.Backend, f32, i32, u8 nn.Buffer) {
				b.SGD(f32.Slice(0, 4), f32.Slice(4, 5), nil, 0.1, 0, 0, false)
			}},
			{"op after Close", "ReLU closed", func(b nn.Backend, f32, i32, u8 nn.Buffer) { b.Close(); b.ReLU(f32, 1) }},
		} {
			t.Run(open.name+"/"+c.name, func(t *testing.T) {
				b := open.new()
				defer b.Close()
				f32, _ := b.Alloc(nn.Float32, 16)
				i32, _ := b.Alloc(nn.Int32, 16)
				u8, _ := b.Alloc(nn.Uint8, 16)
				c.run(b, f32, i32, u8)
				err := b.Sync()
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range strings.Fields(c.want) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
			})
		}
	}
}

func TestAllocErrors(t *testing.T) {
	b := cpu.New()
	if _, err := b.Alloc(nn.Float32, -1); err == nil {
		t.Error("Alloc of -1 elements: no error")
	}
	if _, err := b.Alloc(nn.DType(99), 1); err == nil {
		t.Error("Alloc of an unknown type: no error")
	}
	b.Close()
	if _, err := b.Alloc(nn.Float32, 1); err == nil {
		t.Error("Alloc after Close: no error")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
