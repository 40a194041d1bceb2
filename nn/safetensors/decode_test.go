package safetensors_test

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	st "github.com/mnist-go/mnist/nn/safetensors"
)

// withHeader builds a file from a header (used as is, unpadded) and data.
func withHeader(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// withLength builds a file whose length prefix is n, followed by rest.
func withLength(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

// entry is a tensor's header entry with the given fields spliced in.
func entry(dtype, shape, offsets string) string {
	return `{"dtype":` + dtype + `,"shape":` + shape + `,"data_offsets":` + offsets + `}`
}

func TestDecodeRejects(t *testing.T) {
	f32 := func(shape, offsets string) string { return entry(`"F32"`, shape, offsets) }
	one := func(e string) string { return `{"w":` + e + `}` }
	eight := make([]byte, 8)
	cases := []struct {
		name string
		file []byte
		want string // the specific problem, as it appears in the error
	}{
		{"empty file", nil, "the file is 0 bytes long, too short for the 8-byte header length"},
		{"seven bytes", []byte{2, 0, 0, 0, 0, 0, 0}, "7 bytes long"},
		{"header length over the cap", withLength(100_000_001, "{}"), "header length 100000001 is over the 100000000-byte limit"},
		{"header length near 2^64", withLength(1<<64-1, "{}"), "header length 18446744073709551615 is over"},
		{"header length past the end", withLength(100, `{"a":1}`), "header length 100 runs past the end of the file (7 bytes follow the length prefix)"},
		{"header length one too many", withLength(3, "{}"), "header length 3 runs past the end"},
		{"zero header length", withLength(0, "{}"), "header length is 0"},
		{"long values are shortened", withHeader(one(entry(`"F32"`, `"`+strings.Repeat("x", 1000)+`"`, `[0,4]`)), eight[:4]), `shape "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... is not an array`},
		{"invalid UTF-8", withHeader("{\"\xff\":{}}", nil), "header is not valid UTF-8"},
		{"header is an array", withHeader(`[1,2]`, nil), "header does not start with '{'"},
		{"leading whitespace", withHeader(` {}`, nil), "header does not start with '{'"},
		{"truncated JSON", withHeader(`{"w":{"dtype":"F32"`, nil), "header: not valid JSON"},
		{"trailing comma", withHeader(`{"w":{"dtype":"F32","shape":[],"data_offsets":[0,4]},}`, eight[:4]), "header: not valid JSON"},
		{"two objects", withHeader(`{} {}`, nil), "header: unexpected data after the JSON object"},
		{"garbage after", withHeader(`{}x`, nil), "header: unexpected data after the JSON object"},
		{"NUL padding", withHeader("{}\x00\x00", nil), "header: unexpected data after the JSON object"},
		{"duplicate tensor name", withHeader(`{"w":`+f32(`[1]`, `[0,4]`)+`,"w":`+f32(`[1]`, `[4,8]`)+`}`, eight), `header: key "w" appears twice`},
		{"duplicate name after unescaping", withHeader(`{"w":`+f32(`[1]`, `[0,4]`)+`,"\u0077":`+f32(`[1]`, `[4,8]`)+`}`, eight), `key "w" appears twice`},
		{"duplicate metadata", withHeader(`{"__metadata__":{},"__metadata__":{}}`, nil), `key "__metadata__" appears twice`},
		{"entry is an array", withHeader(one(`[1]`), nil), `tensor "w": entry: not a JSON object`},
		{"entry is null", withHeader(one(`null`), nil), `tensor "w": entry: not a JSON object`},
		{"entry has a duplicate field", withHeader(one(`{"dtype":"F32","dtype":"U8","shape":[],"data_offsets":[0,4]}`), eight[:4]), `tensor "w": entry: key "dtype" appears twice`},
		{"no dtype", withHeader(one(`{"shape":[1],"data_offsets":[0,4]}`), eight[:4]), `tensor "w": entry has no "dtype"`},
		{"no shape", withHeader(one(`{"dtype":"F32","data_offsets":[0,4]}`), eight[:4]), `tensor "w": entry has no "shape"`},
		{"no data_offsets", withHeader(one(`{"dtype":"F32","shape":[1]}`), eight[:4]), `tensor "w": entry has no "data_offsets"`},
		{"field names are case-sensitive", withHeader(one(`{"DType":"F32","shape":[1],"data_offsets":[0,4]}`), eight[:4]), `entry has no "dtype"`},
		{"dtype is a number", withHeader(one(entry(`32`, `[1]`, `[0,4]`)), eight[:4]), `tensor "w": dtype 32 is not a string`},
		{"dtype is null", withHeader(one(entry(`null`, `[1]`, `[0,4]`)), eight[:4]), `dtype null is not a string`},
		{"unknown dtype", withHeader(one(entry(`"F128"`, `[1]`, `[0,16]`)), make([]byte, 16)), `tensor "w": unknown dtype "F128"`},
		{"lower-case dtype", withHeader(one(entry(`"f32"`, `[1]`, `[0,4]`)), eight[:4]), `unknown dtype "f32"`},
		{"sub-byte dtype", withHeader(one(entry(`"F4"`, `[2]`, `[0,1]`)), eight[:1]), `tensor "w": dtype F4 is narrower than a byte`},
		{"shape is a number", withHeader(one(f32(`4`, `[0,4]`)), eight[:4]), `tensor "w": shape 4 is not an array`},
		{"shape is null", withHeader(one(f32(`null`, `[0,4]`)), eight[:4]), `shape null is not an array`},
		{"negative dimension", withHeader(one(f32(`[2,-1]`, `[0,4]`)), eight[:4]), `tensor "w": shape: negative value -1`},
		{"fractional dimension", withHeader(one(f32(`[1.5]`, `[0,4]`)), eight[:4]), `shape: 1.5 is not a non-negative integer`},
		{"dimension with exponent", withHeader(one(f32(`[1e0]`, `[0,4]`)), eight[:4]), `shape: 1e0 is not a non-negative integer`},
		{"dimension is a string", withHeader(one(f32(`["1"]`, `[0,4]`)), eight[:4]), `shape: "1" is not a non-negative integer`},
		{"dimension over 64 bits", withHeader(one(f32(`[18446744073709551616]`, `[0,4]`)), eight[:4]), `shape: 18446744073709551616 does not fit in 64 bits`},
		{"dimension over MaxInt", withHeader(one(f32(`[9223372036854775808]`, `[0,4]`)), eight[:4]), `shape: dimension 9223372036854775808 is too large`},
		{"element count overflows", withHeader(one(f32(`[4294967296,4294967296]`, `[0,4]`)), eight[:4]), `tensor "w": shape [4294967296 4294967296] is too large`},
		{"byte count overflows", withHeader(one(f32(`[4611686018427387904]`, `[0,4]`)), eight[:4]), `shape [4611686018427387904] is too large`},
		{"overflow before a zero dimension", withHeader(one(f32(`[4294967296,4294967296,0]`, `[0,0]`)), nil), `is too large`},
		{"offsets are one number", withHeader(one(f32(`[1]`, `[4]`)), eight[:4]), `tensor "w": data_offsets [4] is not a pair [begin, end]`},
		{"offsets are three numbers", withHeader(one(f32(`[1]`, `[0,4,8]`)), eight[:4]), `data_offsets [0,4,8] is not a pair`},
		{"offsets are an object", withHeader(one(f32(`[1]`, `{"begin":0}`)), eight[:4]), `is not a pair`},
		{"negative offset", withHeader(one(f32(`[1]`, `[-4,0]`)), eight[:4]), `tensor "w": data_offsets: negative value -4`},
		{"fractional offset", withHeader(one(f32(`[1]`, `[0,4.0]`)), eight[:4]), `data_offsets: 4.0 is not a non-negative integer`},
		{"end before begin", withHeader(one(f32(`[1]`, `[8,4]`)), eight), `tensor "w": data_offsets [8, 4] end before they begin`},
		{"end past the data", withHeader(one(f32(`[2]`, `[0,8]`)), eight[:4]), `tensor "w": data_offsets [0, 8] run past the end of the 4-byte data section`},
		{"empty tensor past the data", withHeader(one(f32(`[0]`, `[9,9]`)), eight), `data_offsets [9, 9] run past the end of the 8-byte data section`},
		{"size does not match shape", withHeader(one(f32(`[3]`, `[0,8]`)), eight), `tensor "w": data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12`},
		{"size does not match dtype", withHeader(one(entry(`"F64"`, `[2]`, `[0,8]`)), eight), `hold 8 bytes, but F64 [2] needs 16`},
		{"overlap",
			withHeader(`{"a":`+f32(`[2]`, `[0,8]`)+`,"b":`+f32(`[2]`, `[4,12]`)+`}`, make([]byte, 12)),
			`tensor "b": data_offsets [4, 12] overlap tensor "a" at [0, 8]`},
		{"same offsets twice",
			withHeader(`{"a":`+f32(`[1]`, `[0,4]`)+`,"b":`+f32(`[1]`, `[0,4]`)+`}`, eight[:4]),
			`tensor "b": data_offsets [0, 4] overlap tensor "a" at [0, 4]`},
		{"gap between tensors",
			withHeader(`{"a":`+f32(`[1]`, `[0,4]`)+`,"b":`+f32(`[1]`, `[8,12]`)+`}`, make([]byte, 12)),
			`bytes [4, 8) of the data section belong to no tensor (the next one, "b", begins at 8)`},
		{"gap at the start", withHeader(one(f32(`[1]`, `[4,8]`)), eight), `bytes [0, 4) of the data section belong to no tensor`},
		{"trailing bytes", withHeader(one(f32(`[1]`, `[0,4]`)), make([]byte, 6)), `bytes [4, 6) at the end of the data section belong to no tensor`},
		{"data but no tensors", withHeader(`{}`, []byte{1, 2, 3}), `bytes [0, 3) at the end of the data section belong to no tensor`},
		{"metadata is a string", withHeader(`{"__metadata__":"pt"}`, nil), `__metadata__: not a JSON object`},
		{"metadata is an array", withHeader(`{"__metadata__":[]}`, nil), `__metadata__: not a JSON object`},
		{"metadata value is a number", withHeader(`{"__metadata__":{"epoch":3}}`, nil), `__metadata__: the value of "epoch" is 3, not a string`},
		{"metadata value is null", withHeader(`{"__metadata__":{"a":"b","c":null}}`, nil), `the value of "c" is null, not a string`},
		{"metadata value is an object", withHeader(`{"__metadata__":{"a":{"b":"c"}}}`, nil), `the value of "a" is {"b":"c"}, not a string`},
		{"metadata has a duplicate key", withHeader(`{"__metadata__":{"a":"1","a":"2"}}`, nil), `__metadata__: key "a" appears twice`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			const name = "weights.safetensors"
			f, err := st.Decode(c.file, name)
			if err == nil {
				t.Fatalf("Decode accepted it: %d tensors", len(f.Tensors))
			}
			t.Log(err)
			var fe *st.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *FormatError", err, err)
			}
			if fe.File != name || !strings.HasPrefix(err.Error(), name+": not a valid safetensors file: ") {
				t.Errorf("error %q does not name the file", err)
			}
			if !strings.Contains(fe.Problem, c.want) {
				t.Errorf("problem %q\nwant it to contain %q", fe.Problem, c.want)
			}
		})
	}
}

func TestFormatErrorWithoutName(t *testing.T) {
	_, err := st.Decode(nil, "")
	if err == nil || !strings.HasPrefix(err.Error(), "<data>: not a valid safetensors file: ") {
		t.Errorf("error without a name: %v", err)
	}
}
