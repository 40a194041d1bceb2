package gpu

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/mnist-go/mnist/gpu/internal/emu"
	"github.com/mnist-go/mnist/nn"
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
	launches  int // launches run, replays included
	dependent int // launchDependent calls, captured ones included
	// pdlCheck: every launch runs under the emulator's checker of
	// programmatic dependent launch (emu.Lib.CheckPDL) over this device's
	// allocations (owned); the fused MLP step's kernels with
	// mlp_params.pdl > 0 are checked before their wait.
	pdlCheck bool
	owned    map[uint64]bool
	faulted  error // set by tests to stand for a sticky fault
	oneOrder bool  // run each grid's blocks in one order only (see run)
	stats    emuStats
	profile  map[kernel]*kernelProfile // when not nil, run adds to it
	trace    []tracedLaunch            // with profile: every launch run, in order
}

// tracedLaunch is one launch a profiled run ran, and the emulator's time
// running it.
type tracedLaunch struct {
	emuLaunch
	seconds float64
}

// kernelProfile is what one kernel cost an emulated run: its launches, the
// CUDA threads they started, and the emulator's time running them.
type kernelProfile struct {
	launches int
	threads  int64
	seconds  float64
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

func (d *emuDevice) alloc(n int) (uint64, error) {
	ptr := d.lib.Alloc(n)
	if d.owned == nil {
		d.owned = map[uint64]bool{}
	}
	d.owned[ptr] = true
	return ptr, nil
}

func (d *emuDevice) free(ptr uint64) error {
	delete(d.owned, ptr)
	d.lib.Free(ptr)
	return nil
}

// checkPDL arms the emulator's checker for launch l when pdlCheck is on.
func (d *emuDevice) checkPDL(l emuLaunch, rerun bool) {
	if !d.pdlCheck {
		return
	}
	var waits bool
	var status uint64
	if l.k == kMLPFirst || l.k == kMLPRows || l.k == kMLPUpdate {
		p := (*mlpParams)(unsafe.Pointer(&l.params[0]))
		waits, status = p.pdl > 0, p.status
	}
	ptrs := make([]uint64, 0, len(d.owned))
	for p := range d.owned {
		ptrs = append(ptrs, p)
	}
	d.lib.CheckPDL(ptrs, waits, rerun, status)
}

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

func (d *emuDevice) download(parts ...hostCopy) error {
	d.stats.syncs++
	for _, c := range parts {
		mem, err := d.lib.Bytes(c.src, len(c.dst))
		if err != nil {
			return err
		}
		copy(c.dst, mem)
	}
	return nil
}

func (d *emuDevice) launch(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	l := emuLaunch{k: k, grid: grid, block: block, params: append([]byte(nil), unsafe.Slice((*byte)(params), size)...)}
	if d.capturing {
		d.captured = append(d.captured, l)
		return nil
	}
	return d.run(l)
}

// launchDependent runs the kernel as launch does (the emulator runs one
// kernel after the other: nothing overlaps), counting it.
func (d *emuDevice) launchDependent(k kernel, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	d.dependent++
	return d.launch(k, grid, block, params, size)
}

// run runs a launch twice when its grid has more than one block: in
// order, then, from the same memory, reversed or shuffled (alternately);
// the results must agree, or blocks depend on one another's order (an
// inter-block race, or a read of what another block writes).
func (d *emuDevice) run(l emuLaunch) error {
	d.launches++
	d.stats.launches++
	if d.profile != nil {
		p := d.profile[l.k]
		if p == nil {
			p = &kernelProfile{}
			d.profile[l.k] = p
		}
		start := time.Now()
		defer func() {
			sec := time.Since(start).Seconds()
			p.seconds += sec
			d.trace = append(d.trace, tracedLaunch{l, sec})
		}()
		p.launches++
		p.threads += int64(l.grid[0]) * int64(l.grid[1]) * int64(l.grid[2]) * int64(l.block[0]) * int64(l.block[1]) * int64(l.block[2])
	}
	params := unsafe.Pointer(&l.params[0])
	if l.grid[0]*l.grid[1]*l.grid[2] > 1 && !d.oneOrder {
		before := d.lib.Snapshot()
		d.lib.SetBlockOrder(emu.InOrder, 0)
		d.checkPDL(l, false)
		if err := d.lib.Launch(kernelNames[l.k], l.grid, l.block, params, uintptr(len(l.params))); err != nil {
			return err
		}
		after := d.lib.Snapshot()
		d.lib.Restore(before)
		order := emu.Reversed
		if d.launches%2 == 0 {
			order = emu.Shuffled
		}
		d.lib.SetBlockOrder(order, uint32(d.launches))
		d.checkPDL(l, true)
		err := d.lib.Launch(kernelNames[l.k], l.grid, l.block, params, uintptr(len(l.params)))
		d.lib.SetBlockOrder(emu.InOrder, 0)
		if err != nil {
			return err
		}
		if err := d.lib.Compare(after); err != nil {
			d.t.Errorf("%s: blocks run %v give another result than in order (%s): the blocks depend on one another", kernelNames[l.k], order, err)
		}
	} else {
		d.checkPDL(l, false)
		if err := d.lib.Launch(kernelNames[l.k], l.grid, l.block, params, uintptr(len(l.params))); err != nil {
			return err
		}
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

// errorRecorder is a testing.TB that keeps what Errorf is told.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestBlockOrderFindsDependentBlocks plants a launch whose blocks depend on
// one another (column_sums_f32 with dst aliasing row 0 of src: block 0
// writes the sums of columns 0..31 over the columns block 1 sums, and block
// 1 its own over row 1, which block 0 reads): run checks every multi-block
// launch in two block orders, and must report it.
func TestBlockOrderFindsDependentBlocks(t *testing.T) {
	_, d := openEmu(t)
	if d == nil {
		t.Skip("emulator only")
	}
	const rows, cols = 4, 2 * colsumCols
	x := d.lib.Alloc(rows * cols * 4)
	defer d.lib.Free(x)
	mem, _ := d.lib.Bytes(x, rows*cols*4)
	for i := range mem {
		mem[i] = byte(i%7 + 60) // floats of moderate size
	}
	rec := &errorRecorder{TB: t}
	d.t = rec
	defer func() { d.t = t }()
	p := colsumParams{dst: x + colsumCols*4, src: x, rows: rows, cols: cols}
	if err := d.launch(kColumnSums, [3]uint32{cols / colsumCols, 1, 1}, [3]uint32{colsumThreads, 1, 1}, unsafe.Pointer(&p), unsafe.Sizeof(p)); err != nil {
		t.Fatal(err)
	}
	if len(rec.errors) == 0 || !strings.Contains(rec.errors[0], "depend on one another") {
		t.Fatalf("dependent blocks not reported: %q", rec.errors)
	}
	t.Log(rec.errors[0])
}

// TestEmulatorFindsReadsPastTheEnd plants a read past a buffer's end
// (relu_backward_f32 with out shorter than n): the page after every
// emulated buffer cannot be touched, so the launch fails and names the
// buffer and by how much it was overrun.
func TestEmulatorFindsReadsPastTheEnd(t *testing.T) {
	_, d := openEmu(t)
	if d == nil {
		t.Skip("emulator only")
	}
	const n, short = 64, 16
	grad, out := d.lib.Alloc(n*4), d.lib.Alloc(short*4)
	defer d.lib.Free(grad)
	defer d.lib.Free(out)
	p := eltwiseParams{x: grad, y: out, n: n}
	err := d.lib.Launch("relu_backward_f32", [3]uint32{1, 1, 1}, block256, unsafe.Pointer(&p), unsafe.Sizeof(p))
	want := fmt.Sprintf("0 bytes past the end of the %d-byte buffer at %#x", short*4, out)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Launch = %v, want an error saying %q", err, want)
	}
	t.Log(err)
	// The emulator goes on working after the fault.
	p.n = short
	if err := d.lib.Launch("relu_backward_f32", [3]uint32{1, 1, 1}, block256, unsafe.Pointer(&p), unsafe.Sizeof(p)); err != nil {
		t.Fatal(err)
	}
	// And a nil dereference in Go still panics as Go's (the fault handler
	// is the emulator's only during a launch).
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a nil dereference did not panic")
			}
		}()
		var np *int
		_ = *np
	}()
}

// TestDownloadAllWaitsOnce: DownloadAll copies every transfer, and the
// status word a kernel set, after one wait for the device; a bad transfer
// is named by its index and nothing is copied.
func TestDownloadAllWaitsOnce(t *testing.T) {
	b, d := openEmu(t)
	x := upload(t, b, []float32{1, 2, 3})
	idx := uploadI32(t, b, []int32{7, 8})
	b.ReLU(x, 3) // a kernel ran: the status word is due
	syncs := func() int { return 0 }
	if d != nil { // on the emulator: count the waits
		d.resetStats()
		syncs = func() int { return d.stats.syncs }
	}
	gotX, gotIdx := make([]float32, 3), make([]int32, 2)
	if err := b.DownloadAll(nn.Transfer{Dst: gotX, Src: x}, nn.Transfer{Dst: gotIdx, Src: idx}); err != nil {
		t.Fatal(err)
	}
	if n := syncs(); d != nil && n != 1 {
		t.Errorf("DownloadAll of two buffers and the status word waited %d times, want 1", n)
	}
	if gotX[2] != 3 || gotIdx[1] != 8 {
		t.Errorf("DownloadAll copied %v and %v", gotX, gotIdx)
	}
	if err := b.Download(gotX, x); err != nil || (d != nil && syncs() != 2) {
		t.Errorf("Download after it: %v, %d waits in all (want 2: no kernel ran, so no status word)", err, syncs())
	}
	untouched := []int32{-1, -1}
	err := b.DownloadAll(nn.Transfer{Dst: gotX, Src: x}, nn.Transfer{Dst: untouched, Src: x})
	if err == nil || !strings.Contains(err.Error(), "transfer 1's src is float32, dst is int32") {
		t.Errorf("DownloadAll into the wrong type: %v", err)
	}
	if untouched[0] != -1 {
		t.Errorf("a refused DownloadAll copied into its destination")
	}
	if err := b.err; err != nil {
		t.Errorf("a refused DownloadAll left the backend failed: %v", err)
	}
}
