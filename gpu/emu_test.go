package gpu

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"unsafe"

	"github.com/mnist-go/mnist/gpu/internal/emu"
)

// emuDevice is the device interface over the CPU emulator of the kernels:
// the same kernel code and launch shapes as on the GPU, host memory with
// guard bands, launches run at once (so the stream is always idle), and a
// "graph" that stores launches to run them again.
type emuDevice struct {
	t         testing.TB
	lib       *emu.Lib
	sms       int
	capturing bool
	captured  []emuLaunch
	launches  int   // launches run, replays included
	faulted   error // set by tests to stand for a sticky fault
	stats     emuStats
}

// emuStats counts what a run asks of the device, for the tests that state
// limits on it.
type emuStats struct {
	launches int // kernels run, replays included
	replayed int // of those, kernels run by graph replays
	captures int // recordings made
	replays  int // graph launches
	syncs    int // waits for the device: sync and download
}

func (d *emuDevice) resetStats() { d.stats = emuStats{} }

// openGPU, when set (by TestCUDA in the cuda build), makes the tests that
// call openEmu run on the GPU instead.
var openGPU func(t testing.TB) *Backend

type emuLaunch struct {
	k           kernel
	grid, block [3]uint32
	params      []byte
}

type emuGraph struct {
	d        *emuDevice
	launches []emuLaunch
}

// openEmu returns a Backend on the emulator (132 SMs, as an H100 SXM, so
// that launch shapes are the ones the GPU gets), or skips the test where
// there is no C++ compiler.
func openEmu(t testing.TB) (*Backend, *emuDevice) {
	t.Helper()
	if openGPU != nil {
		return openGPU(t), nil
	}
	if _, err := emuAvailable(); err != nil {
		t.Skip(err)
	}
	lib, err := emu.Load()
	if err != nil {
		t.Fatal(err)
	}
	d := &emuDevice{t: t, lib: lib, sms: 132}
	b, err := newBackend(d, "CPU emulator of the CUDA kernels")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
	return b, d
}

// emuAvailable says whether the emulator can be built here: it needs a C++
// compiler (g++ or $CXX).
func emuAvailable() (string, error) {
	cxx := os.Getenv("CXX")
	if cxx == "" {
		cxx = "g++"
	}
	path, err := exec.LookPath(cxx)
	if err != nil {
		return "", fmt.Errorf("no C++ compiler to build the CPU emulator of the kernels: %w", err)
	}
	return path, nil
}

func (d *emuDevice) alloc(n int) (uint64, error) { return d.lib.Alloc(n), nil }
func (d *emuDevice) free(ptr uint64) error       { d.lib.Free(ptr); return nil }

func (d *emuDevice) zero(ptr uint64, n int) error {
	mem, err := d.lib.Bytes(ptr, n)
	clear(mem)
	return err
}

func (d *emuDevice) upload(dst uint64, src []byte) error {
	mem, err := d.lib.Bytes(dst, len(src))
	copy(mem, src)
	return err
}

func (d *emuDevice) download(dst []byte, src uint64) error {
	d.stats.syncs++
	mem, err := d.lib.Bytes(src, len(dst))
	copy(dst, mem)
	return err
}

func (d *emuDevice) launch(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	l := emuLaunch{k: k, grid: grid, block: block, params: append([]byte(nil), unsafe.Slice((*byte)(params), size)...)}
	if d.capturing {
		d.captured = append(d.captured, l)
		return nil
	}
	return d.run(l)
}

func (d *emuDevice) run(l emuLaunch) error {
	d.launches++
	d.stats.launches++
	if err := d.lib.Launch(kernelNames[l.k], l.grid, l.block, unsafe.Pointer(&l.params[0]), uintptr(len(l.params))); err != nil {
		return err
	}
	// An out-of-bounds write is a bug in the kernel or its launch shape.
	if err := d.lib.Check(); err != nil {
		d.t.Errorf("%s: %v", kernelNames[l.k], err)
	}
	return nil
}

func (d *emuDevice) sync() error { d.stats.syncs++; return nil }

func (d *emuDevice) beginCapture() error {
	d.capturing, d.captured = true, nil
	return nil
}

func (d *emuDevice) endCapture() (graph, error) {
	d.stats.captures++
	g := &emuGraph{d: d, launches: d.captured}
	d.capturing, d.captured = false, nil
	return g, nil
}

func (d *emuDevice) multiprocessors() int { return d.sms }
func (d *emuDevice) fault() error         { return d.faulted }
func (d *emuDevice) close() error         { return nil }

func (g *emuGraph) launch() error {
	g.d.stats.replays++
	g.d.stats.replayed += len(g.launches)
	for _, l := range g.launches {
		if err := g.d.run(l); err != nil {
			return err
		}
	}
	return nil
}

func (g *emuGraph) destroy() error { return nil }
