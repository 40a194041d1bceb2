package kernels

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// wantKernels are the entry points package gpu launches.
var wantKernels = []string{
	"gemm_f32", "relu_f32", "relu_backward_f32", "softmax_xent_f32",
	"column_sums_f32", "argmax_f32", "gather_f32", "sgd_f32", "adam_f32",
	"im2col_f32", "col2im_f32", "maxpool_f32", "maxpool_backward_f32", "gather_affine_f32",
	"mlp_first_f32", "mlp_rows_f32", "mlp_update_f32", "gemm_splitk_reduce_f32",
}

func TestEntries(t *testing.T) {
	got := map[string]int{}
	for _, m := range Modules {
		if !strings.Contains(m.PTX, ".target sm_80") {
			t.Errorf("%s.ptx does not target sm_80 (compute_80): regenerate it with make kernels", m.Name)
		}
		if !strings.Contains(m.PTX, `.file	1 "kernels/`+m.Name+`.cu"`) {
			t.Errorf("%s.ptx lacks line information with the relative source path: regenerate it with make kernels", m.Name)
		}
		// A fatbin starts with its magic number 0xBA55ED50 (little-endian).
		if len(m.Fatbin) < 16 || m.Fatbin[:4] != "\x50\xed\x55\xba" {
			t.Errorf("%s.fatbin is not a fatbin: regenerate it with make kernels", m.Name)
		}
		for _, e := range Entries(m.PTX) {
			if _, dup := got[e.Name]; dup {
				t.Errorf("kernel %s is in two modules", e.Name)
			}
			got[e.Name] = e.ParamSize
		}
	}
	for _, k := range wantKernels {
		if got[k] == 0 {
			t.Errorf("kernel %s: not in the embedded PTX (or it takes no parameter struct)", k)
		}
	}
	if len(got) != len(wantKernels) {
		t.Errorf("the PTX declares %d kernels, want %d: %v", len(got), len(wantKernels), got)
	}
}

// TestSourceHygiene checks the rules every kernel source follows: each
// module has a committed PTX, kernels are extern "C" __global__ named
// <op>_f32 with one const parameter struct, and nothing depends on the
// CUDA runtime API or on files outside this folder.
func TestSourceHygiene(t *testing.T) {
	srcs, err := filepath.Glob("*.cu")
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no .cu sources: %v", err)
	}
	global := regexp.MustCompile(`__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)\s*\(([^)]*)\)`)
	for _, src := range srcs {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		base := strings.TrimSuffix(src, ".cu")
		for _, ext := range []string{".ptx", ".fatbin"} {
			if _, err := os.Stat(base + ext); err != nil {
				t.Errorf("%s has no committed %s%s: run make kernels", src, base, ext)
			}
		}
		for _, bad := range []string{"cuda_runtime", "cudaMalloc", "printf(", "#include <cuda", "#include \"../"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s uses %q: kernels stay self-contained (driver API only, no runtime, no printf)", src, bad)
			}
		}
		for _, m := range global.FindAllStringSubmatch(text, -1) {
			name, params := m[1], strings.TrimSpace(m[2])
			if !strings.HasSuffix(name, "_f32") {
				t.Errorf("%s: kernel %s is not named <op>_f32", src, name)
			}
			if !strings.HasPrefix(params, "const ") || strings.Contains(params, ",") {
				t.Errorf("%s: kernel %s takes (%s), want one const parameter struct", src, name, params)
			}
			if !strings.Contains(text, `extern "C" __global__ void `+name) &&
				!regexp.MustCompile(`extern "C" __global__ void __launch_bounds__\([^)]*\) `+name).MatchString(text) {
				t.Errorf("%s: kernel %s is not declared extern \"C\" __global__ void", src, name)
			}
		}
	}
}
