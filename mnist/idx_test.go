package mnist_test

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
)

func TestIDXRoundTrip(t *testing.T) {
	sixteen := make([]int, 16)
	for i := range sixteen {
		sixteen[i] = 1 + i%2
	}
	cases := []struct {
		name string
		x    *mnist.IDX
	}{
		{"uint8 images", images(3, 4, 5)},
		{"uint8 labels", labels(0, 9, 3, 3)},
		{"int8", &mnist.IDX{Type: mnist.TypeInt8, Dims: []int{4}, Data: []byte{0x80, 0xff, 0, 1}}},
		{"int16", &mnist.IDX{Type: mnist.TypeInt16, Dims: []int{2, 1}, Data: []byte{0x12, 0x34, 0xff, 0xfe}}},
		{"int32", &mnist.IDX{Type: mnist.TypeInt32, Dims: []int{1, 1, 2}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
		{"float32", &mnist.IDX{Type: mnist.TypeFloat32, Dims: []int{1}, Data: []byte{0x3f, 0x80, 0, 0}}},
		{"float64", &mnist.IDX{Type: mnist.TypeFloat64, Dims: []int{1}, Data: []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0}}},
		{"empty", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{0, 28, 28}, Data: []byte{}}},
		{"zero dim beside huge ones", &mnist.IDX{Type: mnist.TypeFloat64, Dims: []int{math.MaxUint32, 0, math.MaxUint32}, Data: []byte{}}},
		{"16 dims", &mnist.IDX{Type: mnist.TypeUint8, Dims: sixteen, Data: make([]byte, 256)}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		for _, compress := range []bool{false, true} {
			t.Run(c.name+map[bool]string{false: "/raw", true: "/gz"}[compress], func(t *testing.T) {
				path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+map[bool]string{false: ".idx", true: ".idx.gz"}[compress])
				if err := mnist.WriteIDXFile(path, c.x, compress); err != nil {
					t.Fatal(err)
				}
				file, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if isGz := len(file) > 2 && file[0] == 0x1f && file[1] == 0x8b; isGz != compress {
					t.Fatalf("file starts % x: gzip %v, want %v", file[:2], isGz, compress)
				}
				got, err := mnist.ReadIDXFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if got.Type != c.x.Type || !reflect.DeepEqual(got.Dims, c.x.Dims) || !bytes.Equal(got.Data, c.x.Data) {
					t.Fatalf("read back %+v, wrote %+v", got, c.x)
				}
				if cap(got.Data) != len(got.Data) {
					t.Errorf("data has capacity %d for %d bytes: memory should be the size of the data", cap(got.Data), len(got.Data))
				}
			})
		}
	}
}

// The byte layout is MNIST's, pinned: magic 0x00000803, then big-endian dims, then pixels.
func TestWriteIDXLayout(t *testing.T) {
	got := idxBytes(t, &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{2, 1, 3}, Data: []byte{1, 2, 3, 4, 5, 6}})
	want := []byte{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
	got = idxBytes(t, &mnist.IDX{Type: mnist.TypeInt16, Dims: []int{70000}, Data: make([]byte, 140000)})[:8]
	want = []byte{0, 0, 0x0b, 1, 0, 1, 0x11, 0x70}
	if !bytes.Equal(got, want) {
		t.Fatalf("got % x\nwant % x", got, want)
	}
}

// Gzip is recognised by its magic bytes, whatever the file is called.
func TestReadIDXIgnoresFileName(t *testing.T) {
	dir := t.TempDir()
	raw := idxBytes(t, images(2, 3, 3))
	for name, b := range map[string][]byte{
		"raw-named.gz":      raw,
		"gzip-named.idx":    gz(t, raw),
		"gzip-no-extension": gz(t, raw),
	} {
		x, err := mnist.ReadIDXFile(writeFile(t, dir, name, b))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(idxBytes(t, x), raw) {
			t.Errorf("%s: read something else than was written", name)
		}
	}
}

// Concatenated gzip members are one valid gzip stream (gzip -c a b).
func TestReadIDXMultiMemberGzip(t *testing.T) {
	raw := idxBytes(t, images(2, 3, 3))
	x, err := mnist.ReadIDX(bytes.NewReader(concat(gz(t, raw[:10]), gz(t, raw[10:]))), "multi")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(idxBytes(t, x), raw) {
		t.Fatal("read something else than was written")
	}
}

func TestWriteIDXRefuses(t *testing.T) {
	cases := []struct {
		name string
		x    *mnist.IDX
		want string
	}{
		{"unknown type", &mnist.IDX{Type: 0x0a, Dims: []int{1}, Data: []byte{0}}, "unknown element type 0x0a"},
		{"no dims", &mnist.IDX{Type: mnist.TypeUint8, Data: []byte{}}, "0 dimensions"},
		{"17 dims", &mnist.IDX{Type: mnist.TypeUint8, Dims: make([]int, 17)}, "17 dimensions"},
		{"negative dim", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{-1}}, "dimension -1 does not fit"},
		{"dim beyond uint32", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{1 << 32}}, "dimension 4294967296 does not fit"},
		{"short data", &mnist.IDX{Type: mnist.TypeInt16, Dims: []int{2, 2}, Data: make([]byte, 7)}, "need 8 data bytes, have 7"},
		{"long data", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{2}, Data: make([]byte, 3)}, "need 2 data bytes, have 3"},
		{"over the read limit", &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{1 << 20, 1 << 11}}, "more than the 1024 MiB"},
		// 2^31 × 2^31 × 4 bytes wraps to 0 in 64 bits; empty data must not pass for it.
		{"size wraps to 0", &mnist.IDX{Type: mnist.TypeInt32, Dims: []int{1 << 31, 1 << 31}, Data: []byte{}}, "more than 2^64 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			wantErr(t, mnist.WriteIDX(&buf, c.x), "write IDX", c.want)
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes before refusing", buf.Len())
			}
		})
	}
	// WriteIDXFile leaves nothing behind when it refuses.
	dir := t.TempDir()
	path := filepath.Join(dir, "x.gz")
	wantErr(t, mnist.WriteIDXFile(path, cases[0].x, true), path, "unknown element type")
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("refused write left %q", names)
	}
}

type corruptCase struct {
	name string
	data []byte
	want string // a part of the problem the error must state
}

// corruptIDXCases are malformed IDX files and what ReadIDX must say about
// each; they also seed FuzzReadIDX.
func corruptIDXCases(t testing.TB) []corruptCase {
	valid := idxBytes(t, images(3, 4, 4))
	validGz := gz(t, valid)
	n := len(validGz)
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0xff
		return b
	}
	return []corruptCase{
		{"empty", nil, "0 bytes, shorter than the 4-byte magic number"},
		{"3 bytes", []byte{0, 0, 8}, "3 bytes, shorter than the 4-byte magic number"},
		{"html", []byte("<!DOCTYPE html><html><body>404 Not Found</body></html>"), `bad magic number: it starts 0x3c21 ("<!DO")`},
		{"text", []byte("hello, world\n"), "bad magic number"},
		{"unknown type", concat(header(0x07, 1), []byte{0}), "unknown element type 0x07"},
		{"type 0x0a", concat(header(0x0a, 1), []byte{0}), "unknown element type 0x0a"},
		{"0 dims", header(0x08), "0 dimensions (want 1 to 16)"},
		{"17 dims", header(0x08, make([]uint32, 17)...), "17 dimensions (want 1 to 16)"},
		{"255 dims", []byte{0, 0, 8, 255}, "255 dimensions"},
		{"truncated header", header(0x08, 60000, 28, 28)[:9], "truncated header: 3 dimensions promised, only 5 of their 12 bytes present"},
		{"truncated data", valid[:len(valid)-5], "truncated: dimensions 3×4×4 promise 48 data bytes, only 43 present"},
		{"header only", header(0x08, 60000, 28, 28), "truncated: dimensions 60000×28×28 promise 47040000 data bytes, only 0 present"},
		{"trailing bytes", concat(valid, []byte{0}), "trailing bytes after the 48 data bytes"},
		{"terabytes", header(0x08, math.MaxUint32, math.MaxUint32, math.MaxUint32), "header promises 79228162458924105385300197375 bytes"[:16]},
		{"terabytes named", header(0x08, 1<<20, 1<<20, 1<<2), "header promises 4398046511104 bytes of uint8 data (dimensions 1048576×1048576×4), more than the 1024 MiB limit"},
		{"past 64 bits", header(0x0e, math.MaxUint32, math.MaxUint32, math.MaxUint32, 2), "more than 2^64 bytes"},
		{"just over the limit", header(0x0c, 1<<28+1), "header promises 1073741828 bytes of int32 data"},
		{"gzip bad crc", flip(validGz, n-8), "CRC-32 or length check failed"},
		{"gzip bad length", flip(validGz, n-1), "CRC-32 or length check failed"},
		{"gzip truncated trailer", validGz[:n-3], "truncated gzip stream"},
		{"gzip truncated data", validGz[:n-12], "truncated gzip stream"},
		{"gzip truncated header", validGz[:6], "truncated gzip header"},
		{"gzip magic only", []byte{0x1f, 0x8b}, "truncated gzip header"},
		{"gzip bad method", flip(validGz, 2), "corrupt gzip header"},
		{"gzip trailing junk", concat(validGz, []byte("junk")), "bytes after the end of the compressed data"},
		{"gzip of html", gz(t, []byte("<!DOCTYPE html>")), "bad magic number"},
		{"gzip of empty", gz(t, nil), "0 bytes, shorter than the 4-byte magic number"},
		{"gzip of truncated data", gz(t, valid[:len(valid)-1]), "truncated: dimensions 3×4×4 promise 48 data bytes, only 47 present"},
		{"gzip of trailing bytes", gz(t, concat(valid, []byte{1, 2})), "trailing bytes"},
		{"gzip of terabytes", gz(t, header(0x08, 1<<20, 1<<20, 4)), "more than the 1024 MiB limit"},
	}
}

func TestReadIDXCorrupt(t *testing.T) {
	dir := t.TempDir()
	for _, c := range corruptIDXCases(t) {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, dir, strings.ReplaceAll(c.name, " ", "-"), c.data)
			x, err := mnist.ReadIDXFile(path)
			if x != nil {
				t.Errorf("returned %+v with the error", x)
			}
			wantErr(t, err, path+": ", c.want)
			var fe *mnist.FormatError
			if !errors.As(err, &fe) || fe.File != path {
				t.Errorf("error %#v is not a *FormatError for %s", err, path)
			}
		})
	}
}

func TestReadIDXFileMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.gz")
	_, err := mnist.ReadIDXFile(path)
	wantErr(t, err, path)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("error %v is not ErrNotExist", err)
	}
}

// A read error of the source (a failing disk, say) is reported as such, with the name.
func TestReadIDXSourceError(t *testing.T) {
	boom := errors.New("boom")
	for _, prefix := range [][]byte{nil, header(0x08, 10), gz(t, idxBytes(t, images(20, 28, 28)))[:100]} {
		r := io.MultiReader(bytes.NewReader(prefix), errReader{boom})
		_, err := mnist.ReadIDX(r, "disk")
		if !errors.Is(err, boom) {
			t.Errorf("prefix of %d bytes: error %v does not wrap the read error", len(prefix), err)
		}
		wantErr(t, err, "disk")
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// endless yields zeros forever and counts them.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	return len(p), nil
}

// A 16-byte header that promises terabytes is refused from the header alone:
// nothing of the promised data is read, nothing of its size allocated.
func TestReadIDXHugeHeaderIsCheap(t *testing.T) {
	for _, hdr := range [][]byte{
		header(0x08, math.MaxUint32, math.MaxUint32, math.MaxUint32),
		header(0x0e, 1<<20, 1<<20, 1<<20),
		header(0x08, 1<<20, 1<<11), // 2 GiB: over the limit, not over 64 bits
	} {
		src := &endless{}
		var err error
		alloc := allocated(func() {
			_, err = mnist.ReadIDX(io.MultiReader(bytes.NewReader(hdr), src), "huge")
		})
		wantErr(t, err, "huge: header promises", "limit")
		if src.n > 8<<10 {
			t.Errorf("read %d bytes of the promised data before refusing", src.n)
		}
		if alloc > 64<<10 {
			t.Errorf("allocated %d bytes to refuse a %d-byte header", alloc, len(hdr))
		}
	}
}

// A header under the limit that promises far more than the file holds costs
// what the file holds, not what the header promises.
func TestReadIDXShortFileIsCheap(t *testing.T) {
	raw := concat(header(0x08, 1<<30-1), make([]byte, 1000)) // promises 1 GiB-1, holds 1000 bytes
	for name, b := range map[string][]byte{"raw": raw, "gz": gz(t, raw)} {
		var err error
		alloc := allocated(func() { _, err = mnist.ReadIDX(bytes.NewReader(b), name) })
		wantErr(t, err, name+": truncated", "promise 1073741823 data bytes, only 1000 present")
		if alloc > 256<<10 {
			t.Errorf("%s: allocated %d bytes for a %d-byte file", name, alloc, len(b))
		}
	}
}

// allocated returns the bytes f allocates (on average over a few calls).
func allocated(f func()) uint64 {
	const runs = 5
	f() // warm up once-only allocations
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs
}
