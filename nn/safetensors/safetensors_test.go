package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	st "github.com/mnist-go/mnist/nn/safetensors"
)

// allDTypes lists every element type the package supports.
var allDTypes = []st.DType{
	st.BOOL, st.U8, st.I8, st.F8_E5M2, st.F8_E4M3, st.F8_E8M0, st.F8_E4M3FNUZ, st.F8_E5M2FNUZ,
	st.I16, st.U16, st.F16, st.BF16, st.I32, st.U32, st.F32, st.C64, st.F64, st.I64, st.U64,
}

// patterned returns a tensor of the given type and shape whose bytes are a
// recognisable function of seed, so that misplaced bytes show up.
func patterned(name string, d st.DType, seed byte, shape ...int) st.Tensor {
	n := d.Size()
	for _, s := range shape {
		n *= s
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = seed + byte(i*7)
	}
	return st.Tensor{Name: name, DType: d, Shape: shape, Data: data}
}

// encode encodes f or fails the test.
func encode(t *testing.T, f *st.File) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := st.Encode(&buf, f); err != nil {
		t.Fatalf("Encode: %v", err)
	}
	return buf.Bytes()
}

// sameFile reports how got differs from want: tensor order, names, types,
// shapes, bytes and metadata (a nil and an empty map are the same).
func sameFile(got, want *st.File) string {
	if len(got.Tensors) != len(want.Tensors) {
		return "tensor count " + itoa(len(got.Tensors)) + ", want " + itoa(len(want.Tensors))
	}
	for i, g := range got.Tensors {
		w := want.Tensors[i]
		switch {
		case g.Name != w.Name:
			return "tensor " + itoa(i) + " is " + quote(g.Name) + ", want " + quote(w.Name)
		case g.DType != w.DType:
			return g.Name + ": dtype " + string(g.DType) + ", want " + string(w.DType)
		case !slices.Equal(g.Shape, w.Shape):
			return g.Name + ": shape differs"
		case !bytes.Equal(g.Data, w.Data):
			return g.Name + ": data differs"
		}
	}
	if len(got.Metadata) != len(want.Metadata) {
		return "metadata has " + itoa(len(got.Metadata)) + " keys, want " + itoa(len(want.Metadata))
	}
	for k, v := range want.Metadata {
		if g, ok := got.Metadata[k]; !ok || g != v {
			return "metadata " + quote(k) + " is " + quote(g) + ", want " + quote(v)
		}
	}
	return ""
}

func itoa(i int) string     { b, _ := json.Marshal(i); return string(b) }
func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func TestRoundTrip(t *testing.T) {
	var many []st.Tensor
	for i, d := range allDTypes {
		many = append(many, patterned("t_"+string(d), d, byte(i), 2, 3))
	}
	cases := []struct {
		name string
		file *st.File
	}{
		{"nothing", &st.File{}},
		{"empty metadata map", &st.File{Metadata: map[string]string{}, Tensors: []st.Tensor{patterned("a", st.F32, 1, 2)}}},
		{"metadata only", &st.File{Metadata: map[string]string{"format": "pt"}}},
		{"every dtype", &st.File{Tensors: many, Metadata: map[string]string{"format": "pt", "step": "12"}}},
		{"zero-length tensors", &st.File{Tensors: []st.Tensor{
			patterned("first", st.F32, 0, 0),
			patterned("a", st.F32, 1, 2, 2),
			patterned("middle", st.I64, 0, 3, 0),
			patterned("b", st.U8, 2, 5),
			patterned("last", st.F64, 0, 0, 0, 7),
		}}},
		{"scalars", &st.File{Tensors: []st.Tensor{
			st.FromInt64s("step", nil, []int64{-42}),
			st.FromFloat32s("lr", []int{}, []float32{0.005}),
		}}},
		{"order given is kept", &st.File{Tensors: []st.Tensor{
			patterned("z", st.U8, 1, 3), patterned("a", st.F64, 2, 1), patterned("m", st.BF16, 3, 2),
		}}},
		{"awkward strings", &st.File{
			Tensors: []st.Tensor{
				patterned(`quote " and \ backslash`, st.U8, 1, 1),
				patterned("tab\tnewline\ncr\rbs\bff\fcontrol\x01\x1f del\x7f", st.U8, 2, 1),
				patterned("html <>&, unicode é 数字 \u2028", st.U8, 3, 1),
				patterned("", st.U8, 4, 1),
			},
			Metadata: map[string]string{"": "", "k\"\\": "v\n\x00", "数": "字 <&>"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := encode(t, c.file)
			if n := binary.LittleEndian.Uint64(data); (8+n)%8 != 0 || data[8+n-1] != ' ' && data[8+n-1] != '}' {
				t.Errorf("header length %d is not padded to 8 with spaces", n)
			}
			got, err := st.Decode(data, "roundtrip")
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d := sameFile(got, c.file); d != "" {
				t.Fatalf("decoded file differs: %s", d)
			}
			// Same input, same bytes: map order must not leak into the output.
			for range 5 {
				if again := encode(t, c.file); !bytes.Equal(again, data) {
					t.Fatal("Encode is not deterministic")
				}
			}
			// Decoding and re-encoding reproduces the file byte for byte.
			if again := encode(t, got); !bytes.Equal(again, data) {
				t.Fatalf("re-encoding the decoded file changed it:\n got %q\nwant %q", again, data)
			}
			// The header is JSON that encoding/json reads the same way.
			n := binary.LittleEndian.Uint64(data)
			var header map[string]any
			if err := json.Unmarshal(data[8:8+n], &header); err != nil {
				t.Fatalf("header is not JSON: %v", err)
			}
			for _, tn := range c.file.Tensors {
				if _, ok := header[tn.Name]; !ok {
					t.Errorf("header has no key %q", tn.Name)
				}
			}
		})
	}
}

func TestDecodeAliasesInput(t *testing.T) {
	data := encode(t, &st.File{Tensors: []st.Tensor{patterned("a", st.U8, 1, 4), patterned("b", st.U8, 9, 4)}})
	f, err := st.Decode(data, "x")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := f.Get("a")
	if cap(a.Data) != len(a.Data) {
		t.Errorf("cap(Data) = %d, want %d: appending would overwrite the next tensor", cap(a.Data), len(a.Data))
	}
	data[len(data)-1] = 0xEE
	if b, _ := f.Get("b"); b.Data[3] != 0xEE {
		t.Error("Data does not point into the decoded buffer")
	}
}

func TestDecodeAccepts(t *testing.T) {
	f32x2 := []byte{0, 0, 128, 63, 0, 0, 0, 64} // 1.0, 2.0
	cases := []struct {
		name   string
		header string
		data   []byte
		want   []string // tensor names in the order Decode returns them
	}{
		{"no padding", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2, []string{"a"}},
		{"whitespace everywhere", "{ \"a\" :\n{\t\"shape\" : [ 2 ] , \"dtype\":\"F32\",\"data_offsets\":[0 ,8]}\r\n}\t \n", f32x2, []string{"a"}},
		{"unknown entry fields are ignored", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":{"x":[1]}}}`, f32x2, []string{"a"}},
		{"null metadata", `{"__metadata__":null,"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2, []string{"a"}},
		{"metadata last", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}`, f32x2, []string{"a"}},
		{"header not in data order", `{"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},"a":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}}`, f32x2, []string{"a", "b"}},
		{"zero-length tensors sort before others at the same offset",
			`{"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"y":{"dtype":"I64","shape":[2,0],"data_offsets":[8,8]}}`,
			f32x2, []string{"a", "z", "b", "y"}},
		{"escaped name", `{"\u0061\n":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32x2, []string{"a\n"}},
		{"zero dimension makes any other dimension fine", `{"a":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}`, nil, []string{"a"}},
		{"empty", `{}`, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := st.Decode(withHeader(c.header, c.data), c.name)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var names []string
			for _, tn := range f.Tensors {
				names = append(names, tn.Name)
			}
			if !slices.Equal(names, c.want) {
				t.Errorf("tensors %q, want %q", names, c.want)
			}
		})
	}
}

func TestEncodeRejects(t *testing.T) {
	ok := patterned("ok", st.F32, 1, 2)
	cases := []struct {
		name string
		file *st.File
		want string
	}{
		{"nil file", nil, "nil *File"},
		{"unknown dtype", &st.File{Tensors: []st.Tensor{{Name: "x", DType: "F128", Shape: []int{1}, Data: make([]byte, 16)}}}, `x: unknown dtype "F128"`},
		{"sub-byte dtype", &st.File{Tensors: []st.Tensor{{Name: "x", DType: "F4", Shape: []int{2}, Data: make([]byte, 1)}}}, `unknown dtype "F4"`},
		{"negative dimension", &st.File{Tensors: []st.Tensor{{Name: "x", DType: st.U8, Shape: []int{2, -1}}}}, "x: negative dimension in shape [2 -1]"},
		{"overflowing shape", &st.File{Tensors: []st.Tensor{{Name: "x", DType: st.F64, Shape: []int{1 << 40, 1 << 30}}}}, "overflows 64 bits"},
		{"short data", &st.File{Tensors: []st.Tensor{st.FromFloat32s("w", []int{2, 3}, make([]float32, 5))}}, "w: 20 bytes of data, want 24 for F32 [2 3]"},
		{"duplicate name", &st.File{Tensors: []st.Tensor{ok, ok}}, `two tensors are called "ok"`},
		{"metadata key as name", &st.File{Tensors: []st.Tensor{patterned("__metadata__", st.U8, 0, 1)}}, `cannot be called "__metadata__"`},
		{"invalid UTF-8 name", &st.File{Tensors: []st.Tensor{patterned("\xff", st.U8, 0, 1)}}, "not valid UTF-8"},
		{"invalid UTF-8 metadata", &st.File{Metadata: map[string]string{"k": "\xc3"}}, "not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := st.Encode(&buf, c.file)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Encode error %v, want one containing %q", err, c.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// failingWriter accepts n bytes, then fails.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

func TestEncodeReportsWriteErrors(t *testing.T) {
	f := &st.File{Tensors: []st.Tensor{patterned("a", st.U8, 0, 4), patterned("b", st.U8, 0, 4)}}
	size := len(encode(t, f))
	for n := 0; n < size; n += 4 {
		if err := st.Encode(&failingWriter{n}, f); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Errorf("writer failing after %d bytes: Encode returned %v", n, err)
		}
	}
	if err := st.Encode(&failingWriter{size}, f); err != nil {
		t.Errorf("writer with room for %d bytes: %v", size, err)
	}
}

func TestWriteFileReadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	want := &st.File{
		Tensors: []st.Tensor{
			st.FromFloat32s("model.1.weight", []int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
			st.FromInt64s("step", nil, []int64{7}),
		},
		Metadata: map[string]string{"format": "pt"},
	}
	if err := st.WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := sameFile(got, want); d != "" {
		t.Fatal(d)
	}

	// An invalid File leaves the old file alone and no temporary behind.
	bad := &st.File{Tensors: []st.Tensor{{Name: "x", DType: st.F32, Shape: []int{3}}}}
	if err := st.WriteFile(path, bad); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile of an invalid File: %v, want an error naming %s", err, path)
	}
	if got, err := st.ReadFile(path); err != nil || sameFile(got, want) != "" {
		t.Fatalf("the old file did not survive a failed WriteFile: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want 1", len(entries))
	}

	if _, err := st.ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
	}
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	os.WriteFile(corrupt, []byte("PK\x03\x04"), 0o644)
	var fe *st.FormatError
	if _, err := st.ReadFile(corrupt); !errors.As(err, &fe) || fe.File != corrupt {
		t.Errorf("ReadFile of a corrupt file: %v, want a *FormatError naming %s", err, corrupt)
	}
}

func TestExpect(t *testing.T) {
	f := &st.File{Tensors: []st.Tensor{
		st.FromFloat32s("model.1.weight", []int{32, 784}, make([]float32, 32*784)),
		st.FromInt64s("step", nil, []int64{3}),
		{Name: "broken", DType: st.F32, Shape: []int{4}, Data: make([]byte, 12)},
	}}
	if tn, err := f.Expect("step", st.I64); err != nil || tn.Name != "step" {
		t.Errorf("Expect(step, I64) = %v, %v", tn.Name, err)
	}
	if _, err := f.Expect("model.1.weight", st.F32, 32, 784); err != nil {
		t.Errorf("Expect with the right shape: %v", err)
	}
	cases := []struct {
		name  string
		dtype st.DType
		shape []int
		want  string
	}{
		{"model.1.weight", st.F32, []int{64, 784}, "model.1.weight: shape [32 784], want [64 784]"},
		{"model.1.weight", st.F32, []int{32, 784, 1}, "model.1.weight: shape [32 784], want [32 784 1]"},
		{"model.1.weight", st.F64, []int{32, 784}, "model.1.weight: dtype F32, want F64"},
		{"step", st.I64, []int{1}, "step: shape [], want [1]"},
		{"model.3.weight", st.F32, []int{10, 32}, "model.3.weight: no such tensor (the file has 3 tensors: model.1.weight, step, broken)"},
		{"broken", st.F32, []int{4}, "broken: 12 bytes of data, want 16 for F32 [4]"},
	}
	for _, c := range cases {
		_, err := f.Expect(c.name, c.dtype, c.shape...)
		if err == nil || err.Error() != c.want {
			t.Errorf("Expect(%s, %s, %v) = %v, want %q", c.name, c.dtype, c.shape, err, c.want)
		}
	}
	empty := &st.File{}
	if _, err := empty.Expect("x", st.F32); err == nil || !strings.Contains(err.Error(), "no tensors") {
		t.Errorf("Expect on an empty file: %v", err)
	}
	big := &st.File{}
	for i := range 10 {
		big.Tensors = append(big.Tensors, patterned("t"+itoa(i), st.U8, 0, 1))
	}
	want := "x: no such tensor (the file has 10 tensors: t0, t1, t2, t3, t4, t5, t6, t7, and 2 more)"
	if _, err := big.Expect("x", st.U8, 1); err == nil || err.Error() != want {
		t.Errorf("Expect on a file of 10 tensors: %v, want %q", err, want)
	}
}

func TestFloat32sInt64s(t *testing.T) {
	fv := []float32{0, float32(math.Copysign(0, -1)), 1.5, -3.25e-20, float32(math.Inf(1)), math.MaxFloat32, math.SmallestNonzeroFloat32}
	tf := st.FromFloat32s("f", []int{len(fv)}, fv)
	if !bytes.Equal(tf.Data[8:12], []byte{0, 0, 0xc0, 0x3f}) { // 1.5 little-endian
		t.Errorf("1.5 is stored as % x", tf.Data[8:12])
	}
	got, err := tf.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	for i := range fv {
		if math.Float32bits(got[i]) != math.Float32bits(fv[i]) {
			t.Errorf("element %d: %v, want %v", i, got[i], fv[i])
		}
	}
	iv := []int64{0, -1, math.MinInt64, math.MaxInt64, 1 << 40}
	ti := st.FromInt64s("i", []int{5, 1}, iv)
	if gi, err := ti.Int64s(); err != nil || !slices.Equal(gi, iv) {
		t.Errorf("Int64s = %v, %v, want %v", gi, err, iv)
	}
	if !bytes.Equal(ti.Data[8:16], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) {
		t.Errorf("-1 is stored as % x", ti.Data[8:16])
	}

	shape := []int{2}
	ts := st.FromFloat32s("s", shape, []float32{1, 2})
	shape[0] = 99
	if ts.Shape[0] != 2 {
		t.Error("FromFloat32s keeps the caller's shape slice")
	}

	for _, c := range []struct {
		tensor st.Tensor
		want   string
	}{
		{ti, "i: dtype I64, want F32"},
		{st.FromFloat32s("short", []int{3}, []float32{1, 2}), "short: 8 bytes of data, want 12 for F32 [3]"},
		{st.Tensor{Name: "neg", DType: st.F32, Shape: []int{-1}}, "neg: negative dimension"},
	} {
		if _, err := c.tensor.Float32s(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Float32s() error %v, want %q", err, c.want)
		}
	}
	if _, err := tf.Int64s(); err == nil || err.Error() != "f: dtype F32, want I64" {
		t.Errorf("Int64s on F32: %v", err)
	}
}

func TestDTypeSize(t *testing.T) {
	want := map[st.DType]int{
		st.BOOL: 1, st.U8: 1, st.I8: 1, st.F8_E5M2: 1, st.F8_E4M3: 1, st.F8_E8M0: 1, st.F8_E4M3FNUZ: 1, st.F8_E5M2FNUZ: 1,
		st.I16: 2, st.U16: 2, st.F16: 2, st.BF16: 2,
		st.I32: 4, st.U32: 4, st.F32: 4,
		st.C64: 8, st.F64: 8, st.I64: 8, st.U64: 8,
		"F4": 0, "f32": 0, "": 0,
	}
	if len(allDTypes) != 19 {
		t.Errorf("allDTypes has %d entries", len(allDTypes))
	}
	for d, n := range want {
		if got := d.Size(); got != n {
			t.Errorf("%q.Size() = %d, want %d", d, got, n)
		}
	}
}
