package mnist_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist"
)

var writeCorpus = flag.Bool("write-fuzz-corpus", false, "rewrite the seed files of testdata/fuzz/FuzzReadIDX from the test tables")

// fuzzSeeds are valid small files, raw and gzip, and the corrupt table.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for name, x := range map[string]*mnist.IDX{
		"images":  images(2, 3, 3),
		"labels":  labels(1, 7, 9),
		"int16":   {Type: mnist.TypeInt16, Dims: []int{2, 1}, Data: []byte{0x12, 0x34, 0xff, 0xfe}},
		"float64": {Type: mnist.TypeFloat64, Dims: []int{1}, Data: []byte{0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		"empty":   {Type: mnist.TypeUint8, Dims: []int{0, 28, 28}, Data: []byte{}},
	} {
		raw := idxBytes(t, x)
		seeds["valid-"+name] = raw
		seeds["valid-"+name+"-gz"] = gz(t, raw)
	}
	for _, c := range corruptIDXCases(t) {
		seeds["corrupt-"+strings.ReplaceAll(c.name, " ", "-")] = c.data
	}
	return seeds
}

// TestWriteFuzzCorpus rewrites the seed corpus when run with -write-fuzz-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-fuzz-corpus to rewrite testdata/fuzz/FuzzReadIDX/seed-*")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReadIDX")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%+q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzReadIDX checks that ReadIDX never panics, that every error is a
// *FormatError naming the stream, and that whatever it accepts re-encodes to
// an equivalent IDX: for a raw input the very same bytes, for a gzip input the
// bytes it decompresses to.
//
// Run it with: go test -run '^$' -fuzz '^FuzzReadIDX$' -fuzztime 20s ./mnist
func FuzzReadIDX(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := mnist.ReadIDX(bytes.NewReader(in), "fuzz.idx")
		if err != nil {
			var fe *mnist.FormatError
			if !errors.As(err, &fe) || fe.File != "fuzz.idx" || fe.Problem == "" {
				t.Fatalf("error %#v is not a *FormatError naming the input", err)
			}
			if x != nil {
				t.Fatalf("returned %+v with error %v", x, err)
			}
			return
		}
		var out bytes.Buffer
		if err := mnist.WriteIDX(&out, x); err != nil {
			t.Fatalf("accepted %+v but cannot write it back: %v", x, err)
		}
		want := in
		if len(in) >= 2 && in[0] == 0x1f && in[1] == 0x8b {
			zr, err := gzip.NewReader(bytes.NewReader(in))
			if err != nil {
				t.Fatalf("accepted a gzip stream that gzip rejects: %v", err)
			}
			if want, err = io.ReadAll(io.LimitReader(zr, int64(mnist.MaxIDXBytes)+1)); err != nil {
				t.Fatalf("accepted a gzip stream that gzip rejects: %v", err)
			}
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("re-encoding differs from the input:\n got % x\nwant % x", out.Bytes(), want)
		}
		y, err := mnist.ReadIDX(&out, "again")
		if err != nil {
			t.Fatalf("re-encoded IDX does not read back: %v", err)
		}
		if y.Type != x.Type || !reflect.DeepEqual(y.Dims, x.Dims) || !bytes.Equal(y.Data, x.Data) {
			t.Fatalf("read back %+v, want %+v", y, x)
		}
	})
}
