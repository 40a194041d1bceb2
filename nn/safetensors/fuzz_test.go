package safetensors_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	st "github.com/mnist-go/mnist/nn/safetensors"
)

// FuzzDecode checks that Decode never panics, fails only with a
// *FormatError, and that whatever it accepts re-encodes into a file that
// decodes to the same tensors and metadata, and that re-encoding that is a
// fixed point. The seed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(withHeader(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(withHeader(`{"__metadata__":{"k":"v"},"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"BF16","shape":[0],"data_offsets":[0,0]},"c":{"dtype":"BOOL","shape":[],"data_offsets":[0,1]}}`, []byte{1, 2}))
	f.Add(withHeader(`{}      `, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := st.Decode(data, "fuzz")
		if err != nil {
			var fe *st.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode failed with %T, not *FormatError: %v", err, err)
			}
			return
		}
		var buf bytes.Buffer
		if err := st.Encode(&buf, file); err != nil {
			t.Fatalf("Encode of a decoded file: %v", err)
		}
		again, err := st.Decode(buf.Bytes(), "re-encoded")
		if err != nil {
			t.Fatalf("Decode of the re-encoded file: %v\n%q", err, buf.Bytes())
		}
		if d := sameFile(again, file); d != "" {
			t.Fatalf("re-encoded file decodes differently: %s", d)
		}
		var buf2 bytes.Buffer
		if err := st.Encode(&buf2, again); err != nil || !bytes.Equal(buf2.Bytes(), buf.Bytes()) {
			t.Fatalf("encoding is not a fixed point (err %v)", err)
		}
	})
}

// TestFuzzCorpus keeps the corpus honest: files named valid-* must decode
// and files named bad-* must not, so the fuzzer starts from both sides of
// every check. Files the fuzzer adds (hex names) are run by FuzzDecode.
func TestFuzzCorpus(t *testing.T) {
	paths, err := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seed corpus in testdata/fuzz/FuzzDecode (%v)", err)
	}
	for _, path := range paths {
		base := filepath.Base(path)
		valid, bad := strings.HasPrefix(base, "valid-"), strings.HasPrefix(base, "bad-")
		if !valid && !bad {
			continue
		}
		data := readCorpusFile(t, path)
		_, err := st.Decode(data, base)
		if valid && err != nil {
			t.Errorf("%s: %v", base, err)
		}
		if bad && err == nil {
			t.Errorf("%s: Decode accepted it", base)
		}
	}
}

// readCorpusFile reads a one-value []byte file in the "go test fuzz v1"
// format.
func readCorpusFile(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 2 || lines[0] != "go test fuzz v1" ||
		!strings.HasPrefix(lines[1], "[]byte(") || !strings.HasSuffix(lines[1], ")") {
		t.Fatalf("%s: not a one-value []byte corpus file", path)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(s)
}
