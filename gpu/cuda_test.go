//go:build cuda

package gpu

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// requireGPU skips with the driver's reason when no device answers.
func requireGPU(t testing.TB) Info {
	t.Helper()
	info, err := Probe()
	if err != nil {
		t.Skipf("no GPU: %v", err)
	}
	return info
}

func openCUDA(t testing.TB) *Backend {
	t.Helper()
	requireGPU(t)
	b, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b
}

// TestNoDeviceIsAnError runs where no device answers (this development
// machine: the driver library is there, cuInit says CUDA_ERROR_NO_DEVICE):
// the process survived cu's package init (the cuInit interposer), and
// Probe, Open and nn.Open return the driver's reason.
func TestNoDeviceIsAnError(t *testing.T) {
	if info, err := Probe(); err == nil {
		t.Skipf("a device answers: %v", info)
	}
	_, err := Probe()
	if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), "CUDA_ERROR_") {
		t.Fatalf("Probe = %v, want ErrNoDevice with the driver's error name", err)
	}
	t.Logf("Probe: %v", err)
	if _, err := Open(); !errors.Is(err, ErrNoDevice) {
		t.Fatalf("Open = %v, want ErrNoDevice", err)
	}
	_, _, err = nn.Open("cuda")
	if err == nil || !strings.Contains(err.Error(), "no CUDA device: cuInit: CUDA_ERROR_") {
		t.Fatalf(`nn.Open("cuda") = %v, want "no CUDA device: cuInit: CUDA_ERROR_..."`, err)
	}
}

// TestCUDA runs the kernel tests on the GPU. With GPU_CHECK_DRY=1 in the
// environment (make gpu-check-dry) it runs them on the emulator instead,
// so that gpu/gpu-check.sh is exercised here as it will run there.
// gpu-check.sh runs each group of subtests in a process of its own, so that
// a sticky fault in one group cannot hide the results of the others.
func TestCUDA(t *testing.T) {
	if os.Getenv("GPU_CHECK_DRY") == "1" {
		t.Log("device: none: GPU_CHECK_DRY=1, the CPU emulator of the kernels stands in for the GPU")
	} else {
		info := requireGPU(t)
		t.Logf("device: %v", info)
		openGPU = func(t testing.TB) *Backend { return openCUDA(t) }
		defer func() { openGPU = nil }()
	}
	for _, c := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Gemm", TestGemmEmu},
		{"GemmBetaZero", TestGemmBetaZeroIgnoresNaN},
		{"SplitK", TestGemmSplitKEmu},
		{"SplitKReplay", TestSplitKReplay},
		{"SoftmaxLastBlock", TestSoftmaxCrossEntropyLastBlock},
		{"Elementwise", TestElementwiseEmu},
		{"SoftmaxCrossEntropy", TestSoftmaxCrossEntropyEmu},
		{"BadLabel", TestSoftmaxCrossEntropyBadLabel},
		{"ColumnSumsArgmax", TestColumnSumsArgmaxEmu},
		{"Gather", TestGatherEmu},
		{"Optimisers", TestOptimisersEmu},
		{"Training", TestTrainingMatchesReference},
		{"CNNTraining", TestCNNTrainingMatchesReference},
		{"RecordReplay", TestRecordReplay},
		{"RecordRejectsHostOps", TestRecordRejectsHostOps},
		{"ReplayEveryRecipe", TestReplayMatchesKernelByKernel},
		{"MLPStep", TestMLPStepMatchesReference},
		{"MLPStepBadData", TestMLPStepBadData},
		{"MLPStepChained", TestMLPStepChained},
		{"DownloadAll", TestDownloadAllWaitsOnce},
		{"StepProfile", TestStepProfile},    // per launch: the GPU's time, or the emulator's work
		{"Conformance", TestConformanceEmu}, // the nn/backendtest suite, on the GPU
	} {
		t.Run(c.name, c.f)
	}
}

// TestOutOfMemory asks for more than the GPU has: the error names what was
// asked and what is free.
func TestOutOfMemory(t *testing.T) {
	b := openCUDA(t)
	_, err := b.Alloc(nn.Float32, 1<<42)
	if err == nil || !strings.Contains(err.Error(), "free") {
		t.Fatalf("Alloc 16 TiB = %v, want an out-of-memory error saying what is free", err)
	}
	t.Log(err)
}

func BenchmarkGEMM(b *testing.B) {
	g := openCUDA(b)
	for _, s := range []struct {
		name    string
		ta, tb  bool
		m, n, k int
	}{
		{"fwd-64x64x784", false, true, 64, 64, 784},
		{"fwd-64x32x64", false, true, 64, 32, 64},
		{"fwd-64x10x32", false, true, 64, 10, 32},
		{"dW-64x784x64", true, false, 64, 784, 64},
		{"dx-64x64x32", false, false, 64, 64, 32},
		{"square-1024", false, false, 1024, 1024, 1024},
	} {
		b.Run("cuda/"+s.name, func(b *testing.B) {
			a, _ := g.Alloc(nn.Float32, s.m*s.k)
			bm, _ := g.Alloc(nn.Float32, s.k*s.n)
			c, _ := g.Alloc(nn.Float32, s.m*s.n)
			gm := nn.Gemm{TransA: s.ta, TransB: s.tb, M: s.m, N: s.n, K: s.k, Alpha: 1, A: a, B: bm, C: c}
			g.Gemm(gm)
			if err := g.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				g.Gemm(gm)
			}
			if err := g.Sync(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(2*float64(s.m*s.n*s.k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkStep times training steps of the tutorial MLP (batch 64):
// launched one op at a time, and replayed from a recording of a whole epoch
// (938 steps of 60000 samples). epoch-ms extrapolates to 938 steps.
func BenchmarkStep(b *testing.B) {
	const steps = 938
	g := openCUDA(b)
	m := newMLP(b, g, steps*64, steps)
	b.Run("cuda/mlp-64-32/launch", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			m.step(i%steps, 0.005)
		}
		if err := g.Sync(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N)*steps, "epoch-ms")
	})
	b.Run("cuda/mlp-64-32/graph", func(b *testing.B) {
		rec, err := g.Record(func() {
			for s := 0; s < steps; s++ {
				m.step(s, 0.005)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		defer rec.Close()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rec.Replay()
		}
		if err := g.Sync(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(b.Elapsed().Seconds()*1e3/float64(b.N), "epoch-ms")
	})
}

var _ = fmt.Sprint
