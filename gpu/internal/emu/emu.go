// Package emu runs the CUDA kernels of kernels/*.cu on the CPU, for tests on
// machines without a GPU. It compiles the kernel sources with g++ and
// csrc/cuda_emu.h into a shared library (cached by content hash), loads it with
// dlopen and launches kernels by name, block after block, every CUDA thread a
// fiber (see emu_runtime.cpp). Device memory is host memory with guard bands
// that Check verifies, so an out-of-bounds write is caught.
//
// It tests kernel logic: indexing, bounds, barriers and shuffles, the
// parameter layout shared with Go. It says nothing about speed, the CUDA
// memory model beyond barriers, or the driver.
package emu

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef int (*launch_fn)(const char *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
	const void *, size_t, char *, size_t, uint64_t *);
typedef void (*reverse_fn)(int);
typedef void (*order_fn)(int, unsigned);
typedef size_t (*layout_fn)(const char *, size_t *, int);
typedef void (*pdl_fn)(const uint64_t *, int, int, int, uint64_t);

static int call_launch(void *f, const char *name, unsigned gx, unsigned gy, unsigned gz,
	unsigned bx, unsigned by, unsigned bz, const void *params, size_t size, char *err, size_t errlen, uint64_t *fault) {
	return ((launch_fn)f)(name, gx, gy, gz, bx, by, bz, params, size, err, errlen, fault);
}
static void call_reverse(void *f, int on) { ((reverse_fn)f)(on); }
static void call_pdl(void *f, const uint64_t *regions, int n, int waits, int rerun, uint64_t status) {
	((pdl_fn)f)(regions, n, waits, rerun, status);
}
static void call_order(void *f, int order, unsigned seed) { ((order_fn)f)(order, seed); }
static size_t call_layout(void *f, const char *which, size_t *offs, int max) {
	return ((layout_fn)f)(which, offs, max);
}
*/
import "C"

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// ErrPDL is wrapped by Launch's error when a block broke a rule of
// programmatic dependent launch (CheckPDL).
var ErrPDL = errors.New("the kernel touched memory too early for programmatic dependent launch")

// Guard is the size in bytes of the bands before and after every allocation.
const Guard = 256

const guardByte = 0xA5

// Lib is a loaded emulator library.
type Lib struct {
	handle  unsafe.Pointer
	launch  unsafe.Pointer
	reverse unsafe.Pointer
	order   unsafe.Pointer
	layout  unsafe.Pointer
	pdl     unsafe.Pointer

	mu     sync.Mutex
	allocs map[uint64]allocation // by device address
}

type allocation struct {
	region []byte // the whole mapping: guard band, data, guard page
	off    int    // where the data starts in region
	size   int    // bytes of data
}

var (
	loadOnce sync.Once
	loaded   *Lib
	loadErr  error
)

// Load builds (or finds in the cache) and loads the emulator library for the
// current kernel sources. It is loaded once per process.
func Load() (*Lib, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

// sourceDirs finds the emulator's and the kernels' sources: beside this
// file when it was compiled with its path (go test), else in the
// repository that the working directory or one of its parents is (a test
// binary built with -trimpath, as make gpu-bins builds it, run from the
// repository root by gpu-check.sh).
func sourceDirs() (emuDir, kernelDir string) {
	_, file, _, _ := runtime.Caller(0)
	if filepath.IsAbs(file) {
		pkg := filepath.Dir(file)
		return filepath.Join(pkg, "csrc"), filepath.Join(pkg, "..", "..", "..", "kernels")
	}
	dir, err := os.Getwd()
	for err == nil {
		if _, e := os.Stat(filepath.Join(dir, "kernels", "params.h")); e == nil {
			return filepath.Join(dir, "gpu", "internal", "emu", "csrc"), filepath.Join(dir, "kernels")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return filepath.Join("gpu", "internal", "emu", "csrc"), "kernels"
}

func load() (*Lib, error) {
	emuDir, kernelDir := sourceDirs()
	runtimeSrc := filepath.Join(emuDir, "emu_runtime.cpp")
	header := filepath.Join(emuDir, "cuda_emu.h")
	cuFiles, err := filepath.Glob(filepath.Join(kernelDir, "*.cu"))
	if err != nil || len(cuFiles) == 0 {
		return nil, fmt.Errorf("emu: no kernel sources in %s (run from the repository's root)", kernelDir)
	}
	// Every header beside the sources (params.h, optim.h, ...) is an input
	// of the cached library too: a change to one must rebuild it.
	headers, err := filepath.Glob(filepath.Join(kernelDir, "*.h"))
	if err != nil {
		return nil, fmt.Errorf("emu: %w", err)
	}
	inputs := append([]string{runtimeSrc, header, filepath.Join(emuDir, "layout_gen.h")}, headers...)
	inputs = append(inputs, cuFiles...)
	h := sha256.New()
	for _, f := range inputs {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("emu: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "mnist-gpu-emu")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("emu: %w", err)
	}
	so := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:24]+".so")
	if _, err := os.Stat(so); err != nil {
		cxx := os.Getenv("CXX")
		if cxx == "" {
			cxx = "g++"
		}
		tmp := so + fmt.Sprintf(".tmp%d", os.Getpid())
		args := []string{"-O1", "-g", "-std=c++17", "-shared", "-fPIC", "-Wall", "-Wno-unknown-pragmas",
			"-I", kernelDir, "-I", emuDir, "-o", tmp, runtimeSrc, "-x", "c++", "-include", "cuda_emu.h"}
		args = append(args, cuFiles...)
		out, err := exec.Command(cxx, args...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("emu: compile kernels with %s: %v\n%s", cxx, err, out)
		}
		if err := os.Rename(tmp, so); err != nil {
			return nil, fmt.Errorf("emu: %w", err)
		}
	}
	cso := C.CString(so)
	defer C.free(unsafe.Pointer(cso))
	handle := C.dlopen(cso, C.RTLD_NOW|C.RTLD_LOCAL)
	if handle == nil {
		return nil, fmt.Errorf("emu: dlopen %s: %s", so, C.GoString(C.dlerror()))
	}
	l := &Lib{handle: handle, allocs: map[uint64]allocation{}}
	for name, dst := range map[string]*unsafe.Pointer{"emu_launch": &l.launch, "emu_set_reverse": &l.reverse, "emu_set_block_order": &l.order, "emu_layout": &l.layout, "emu_pdl_check": &l.pdl} {
		cname := C.CString(name)
		*dst = C.dlsym(handle, cname)
		C.free(unsafe.Pointer(cname))
		if *dst == nil {
			return nil, fmt.Errorf("emu: %s has no symbol %s", so, name)
		}
	}
	return l, nil
}

// SetReverse makes threads between barriers run in descending (true) or
// ascending order.
func (l *Lib) SetReverse(on bool) {
	v := 0
	if on {
		v = 1
	}
	C.call_reverse(l.reverse, C.int(v))
}

// CheckPDL makes the next Launch check the rules of programmatic dependent
// launch (emu_runtime.cpp, emu_pdl_check) over the allocations at ptrs:
// with waits, that its blocks neither write (but to the page of status)
// nor read what the launch before wrote until they call emu_grid_wait;
// rerun says the launch is the one before again. Every launch over the
// same allocations must be checked for the launch after it to be, since
// the checker learns what a launch writes by watching it.
func (l *Lib) CheckPDL(ptrs []uint64, waits, rerun bool, status uint64) {
	regions := make([]C.uint64_t, 0, 2*len(ptrs))
	l.mu.Lock()
	for _, p := range ptrs {
		if a, ok := l.allocs[p]; ok {
			data := len(a.region) - os.Getpagesize() // all but the guard page after
			regions = append(regions, C.uint64_t(uintptr(unsafe.Pointer(&a.region[0]))), C.uint64_t(data))
		}
	}
	l.mu.Unlock()
	var first *C.uint64_t
	if len(regions) > 0 {
		first = &regions[0]
	}
	C.call_pdl(l.pdl, first, C.int(len(regions)/2), C.int(b2i(waits)), C.int(b2i(rerun)), C.uint64_t(status))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// BlockOrder is the order in which Launch runs a grid's blocks.
type BlockOrder int

const (
	InOrder  BlockOrder = iota // x fastest, then y, then z
	Reversed                   // the reverse of InOrder
	Shuffled                   // a permutation drawn from a seed
)

func (o BlockOrder) String() string {
	return [...]string{"in order", "reversed", "shuffled"}[o]
}

// SetBlockOrder makes the following launches run their blocks in order o
// (Shuffled draws the permutation from seed).
func (l *Lib) SetBlockOrder(o BlockOrder, seed uint32) {
	C.call_order(l.order, C.int(o), C.uint(seed))
}

// Snapshot copies the contents of every allocation.
func (l *Lib) Snapshot() map[uint64][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := make(map[uint64][]byte, len(l.allocs))
	for ptr, a := range l.allocs {
		s[ptr] = append([]byte(nil), a.data()...)
	}
	return s
}

// Restore writes a Snapshot back into the allocations that still exist.
func (l *Lib) Restore(s map[uint64][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ptr, a := range l.allocs {
		if b, ok := s[ptr]; ok && len(b) == a.size {
			copy(a.data(), b)
		}
	}
}

// Compare reports the first byte where the allocations differ from a
// Snapshot, naming the buffer by address and size.
func (l *Lib) Compare(s map[uint64][]byte) error {
	now := l.Snapshot()
	for ptr, b := range now {
		old, ok := s[ptr]
		if !ok {
			continue
		}
		for i := range b {
			if b[i] != old[i] {
				return fmt.Errorf("byte %d of the %d-byte buffer at %#x", i, len(b), ptr)
			}
		}
	}
	return nil
}

// Launch runs kernel name over grid×block threads with params (the bytes of
// one parameter struct).
func (l *Lib) Launch(name string, grid, block [3]uint32, params unsafe.Pointer, size uintptr) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var msg [256]C.char
	var fault C.uint64_t
	if r := C.call_launch(l.launch, cname, C.uint(grid[0]), C.uint(grid[1]), C.uint(grid[2]),
		C.uint(block[0]), C.uint(block[1]), C.uint(block[2]), params, C.size_t(size), &msg[0], C.size_t(len(msg)), &fault); r != 0 {
		if r == -2 {
			return fmt.Errorf("emu: %s: %s", C.GoString(&msg[0]), l.describe(uint64(fault)))
		}
		if r == -3 {
			return fmt.Errorf("emu: %s: %w", C.GoString(&msg[0]), ErrPDL)
		}
		return fmt.Errorf("emu: %s", C.GoString(&msg[0]))
	}
	return nil
}

// Layout returns the size of parameter struct which and the offsets of its
// fields in declaration order, as g++ lays them out.
func (l *Lib) Layout(which string) (size uintptr, offsets []uintptr) {
	cw := C.CString(which)
	defer C.free(unsafe.Pointer(cw))
	var offs [64]C.size_t
	n := C.call_layout(l.layout, cw, &offs[0], C.int(len(offs)))
	for _, o := range offs {
		offsets = append(offsets, uintptr(o))
	}
	// Trim the unused tail: offsets after the last field are zero.
	last := len(offsets)
	for last > 1 && offsets[last-1] == 0 {
		last--
	}
	return uintptr(n), offsets[:last]
}

// Alloc returns zeroed "device" memory of n bytes: a guard band of Guard
// bytes before it (a write there is found by Check) and, right after its
// last byte, a page that may not be touched, so that a kernel that reads
// or writes past the end faults, and Launch reports which buffer it
// overran. (So a buffer is only as aligned as its length makes it: the
// kernels load nothing wider than 4 bytes.)
func (l *Lib) Alloc(n int) uint64 {
	page := os.Getpagesize()
	dataPages := (Guard + n + page - 1) / page * page
	region, err := syscall.Mmap(-1, 0, dataPages+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		panic(fmt.Sprintf("emu: mmap %d bytes: %v", dataPages+page, err))
	}
	if err := syscall.Mprotect(region[dataPages:], syscall.PROT_NONE); err != nil {
		panic(fmt.Sprintf("emu: mprotect the guard page: %v", err))
	}
	a := allocation{region: region, off: dataPages - n, size: n}
	band := region[a.off-Guard : a.off]
	for i := range band {
		band[i] = guardByte
	}
	ptr := uint64(uintptr(unsafe.Pointer(&region[0]))) + uint64(a.off)
	l.mu.Lock()
	l.allocs[ptr] = a
	l.mu.Unlock()
	return ptr
}

// data is the allocation's bytes.
func (a allocation) data() []byte { return a.region[a.off : a.off+a.size : a.off+a.size] }

// Free releases memory from Alloc.
func (l *Lib) Free(ptr uint64) {
	l.mu.Lock()
	a, ok := l.allocs[ptr]
	delete(l.allocs, ptr)
	l.mu.Unlock()
	if ok {
		syscall.Munmap(a.region)
	}
}

// Bytes returns the n bytes at device address ptr, which must lie inside
// one allocation, as a Go slice.
func (l *Lib) Bytes(ptr uint64, n int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for start, a := range l.allocs {
		if ptr >= start && ptr+uint64(n) <= start+uint64(a.size) {
			off := int(ptr - start)
			return a.data()[off : off+n : off+n], nil
		}
	}
	return nil, fmt.Errorf("emu: %d bytes at %#x are not inside one allocation", n, ptr)
}

// describe names the buffer that address addr overran, for a fault.
func (l *Lib) describe(addr uint64) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	page := uint64(os.Getpagesize())
	for start, a := range l.allocs {
		end := start + uint64(a.size)
		if addr >= end && addr < end+page {
			return fmt.Sprintf("%d bytes past the end of the %d-byte buffer at %#x", addr-end, a.size, start)
		}
	}
	return "outside every buffer"
}

// Check reports the first allocation whose guard bands were written.
func (l *Lib) Check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ptr, a := range l.allocs {
		band := a.region[a.off-Guard : a.off]
		for i, b := range band {
			if b != guardByte {
				return fmt.Errorf("emu: write %d bytes before the %d-byte buffer at %#x", Guard-i, a.size, ptr)
			}
		}
	}
	return nil
}
