package gpu

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	"github.com/mnist-go/mnist/gpu/internal/emu"
)

// TestPDLMode: MNIST_CUDA_PDL takes 0 (or nothing), 1 or 2, and anything
// else is refused with a message naming the variable and its values.
func TestPDLMode(t *testing.T) {
	for v, want := range map[string]int32{"": 0, "0": 0, " 1": 1, "2\n": 2} {
		if got, err := pdlMode(v); err != nil || got != want {
			t.Errorf("pdlMode(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"3", "on", "-1", "true"} {
		_, err := pdlMode(v)
		if err == nil || !strings.Contains(err.Error(), PDLEnv) || !strings.Contains(err.Error(), "want 0") {
			t.Errorf("pdlMode(%q): %v; want an error naming %s and its values", v, err, PDLEnv)
		}
	}
}

// TestPDLCheckerCatches: the emulator's checker of programmatic dependent
// launch (emu.Lib.CheckPDL), which TestMLPStepChained runs the fused MLP
// step under, is not vacuous: a kernel checked as one that waits is
// stopped when it writes before a wait, and when it reads what the launch
// before wrote.
func TestPDLCheckerCatches(t *testing.T) {
	_, d := openEmu(t)
	if d == nil {
		t.Skip("the checker is the emulator's")
	}
	const n = 256
	x, _ := d.alloc(4 * n)
	y, _ := d.alloc(4 * n)
	ptrs := []uint64{x, y}
	one, block := [3]uint32{1, 1, 1}, [3]uint32{n, 1, 1}
	relu := eltwiseParams{x: x, n: n}
	argmax := argmaxParams{dst: y, src: x, rows: 1, cols: n}
	negative := func() { // so that relu_f32 writes x
		if err := d.upload(x, unsafe.Slice((*byte)(unsafe.Pointer(&[n]float32{0: -1, n - 1: -2})), 4*n)); err != nil {
			t.Fatal(err)
		}
	}
	negative()

	d.lib.CheckPDL(ptrs, true, false, 0)
	err := d.lib.Launch("relu_f32", one, block, unsafe.Pointer(&relu), unsafe.Sizeof(relu))
	if !errors.Is(err, emu.ErrPDL) || !strings.Contains(err.Error(), "wrote memory") {
		t.Errorf("a write before the wait: %v, want an error wrapping emu.ErrPDL that says it wrote", err)
	}

	negative()
	d.lib.CheckPDL(ptrs, false, false, 0) // relu writes x, watched
	if err := d.lib.Launch("relu_f32", one, block, unsafe.Pointer(&relu), unsafe.Sizeof(relu)); err != nil {
		t.Fatal(err)
	}
	d.lib.CheckPDL(ptrs, true, false, 0) // argmax reads x first
	err = d.lib.Launch("argmax_f32", one, block, unsafe.Pointer(&argmax), unsafe.Sizeof(argmax))
	if !errors.Is(err, emu.ErrPDL) || !strings.Contains(err.Error(), "read memory") {
		t.Errorf("a read before the wait of what the launch before wrote: %v, want an error wrapping emu.ErrPDL that says it read", err)
	}
	// Between launches the memory is the host's again.
	if err := d.upload(x, make([]byte, 4*n)); err != nil {
		t.Fatal(err)
	}
}
