package mnist_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
)

// header returns an IDX header: magic 0x0000, type, len(dims), then dims.
func header(typ byte, dims ...uint32) []byte {
	b := []byte{0, 0, typ, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

// idxBytes returns a complete raw IDX file.
func idxBytes(t testing.TB, x *mnist.IDX) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := mnist.WriteIDX(&buf, x); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gz compresses b.
func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// concat joins byte slices into a new one.
func concat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// images returns a uint8 IDX of n rows×cols images whose pixels count up.
func images(n, rows, cols int) *mnist.IDX {
	data := make([]byte, n*rows*cols)
	for i := range data {
		data[i] = byte(i * 7)
	}
	return &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{n, rows, cols}, Data: data}
}

// labels returns a uint8 IDX of the given labels.
func labels(ls ...byte) *mnist.IDX {
	return &mnist.IDX{Type: mnist.TypeUint8, Dims: []int{len(ls)}, Data: append([]byte(nil), ls...)}
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// wantErr fails unless err is non-nil and its message contains every part.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// dirNames lists the names in dir.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}
