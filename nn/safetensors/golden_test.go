package safetensors_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	st "github.com/mnist-go/mnist/nn/safetensors"
)

// le32 is the little-endian bytes of float32 values, written out without the
// package's helpers.
func le32(v ...float32) []byte {
	var b []byte
	for _, x := range v {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

// TestGolden checks Encode and Decode against files built by hand the way
// the reference writer (huggingface/safetensors, serialize in tensor.rs)
// builds them: tensors sorted by descending dtype then name, compact JSON
// with "__metadata__" first and the entries' fields in the order dtype,
// shape, data_offsets, padded with spaces so that 8+N is a multiple of 8.
// The first four are the files of the reference's own serialization tests.
func TestGolden(t *testing.T) {
	zeroToFive := le32(0, 1, 2, 3, 4, 5)
	cases := []struct {
		name   string
		header string // as the reference writes it, padding included
		data   []byte
		file   *st.File
	}{
		{
			name:   "one tensor, no padding needed",
			header: `{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`,
			data:   zeroToFive,
			file: &st.File{Tensors: []st.Tensor{
				st.FromFloat32s("attn.0", []int{1, 2, 3}, []float32{0, 1, 2, 3, 4, 5}),
			}},
		},
		{
			name:   "one tensor, seven spaces",
			header: `{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}` + "       ",
			data:   zeroToFive,
			file: &st.File{Tensors: []st.Tensor{
				st.FromFloat32s("attn0", []int{1, 1, 2, 3}, []float32{0, 1, 2, 3, 4, 5}),
			}},
		},
		{
			name:   "empty",
			header: `{}` + "      ",
			file:   &st.File{},
		},
		{
			name:   "metadata only",
			header: `{"__metadata__":{"framework":"pt"}}` + "     ",
			file:   &st.File{Metadata: map[string]string{"framework": "pt"}},
		},
		{
			name: "checkpoint-like, in the reference's order (I64 > F32 > U8)",
			header: `{"__metadata__":{"format":"pt"},` +
				`"step":{"dtype":"I64","shape":[],"data_offsets":[0,8]},` +
				`"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},` +
				`"mask":{"dtype":"U8","shape":[3],"data_offsets":[16,19]}}` + "  ",
			data: append(append([]byte{0x07, 0x01, 0, 0, 0, 0, 0, 0x80}, le32(-0.5, 3)...), 0, 1, 255),
			file: &st.File{
				Metadata: map[string]string{"format": "pt"},
				Tensors: []st.Tensor{
					st.FromInt64s("step", nil, []int64{math.MinInt64 + 0x0107}),
					st.FromFloat32s("w", []int{2}, []float32{-0.5, 3}),
					{Name: "mask", DType: st.U8, Shape: []int{3}, Data: []byte{0, 1, 255}},
				},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if (8+len(c.header))%8 != 0 {
				t.Fatalf("test bug: header of %d bytes is not padded", len(c.header))
			}
			golden := binary.LittleEndian.AppendUint64(nil, uint64(len(c.header)))
			golden = append(golden, c.header...)
			golden = append(golden, c.data...)

			if got := encode(t, c.file); !bytes.Equal(got, golden) {
				t.Errorf("Encode:\n got %q\nwant %q", got, golden)
			}
			got, err := st.Decode(golden, c.name)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d := sameFile(got, c.file); d != "" {
				t.Errorf("Decode: %s", d)
			}
		})
	}
}
