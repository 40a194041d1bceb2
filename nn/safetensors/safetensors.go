// Package safetensors reads and writes the safetensors format
// (https://github.com/huggingface/safetensors), the file format that PyTorch
// users load with safetensors.torch.load_file. We use it for model weights and
// checkpoints so that a model trained here loads into the PyTorch tutorial's
// MLP, and back.
//
// A file is an 8-byte little-endian uint64 N, N bytes of UTF-8 JSON header,
// then the tensor data. The header maps each tensor name to
//
//	{"dtype":"F32","shape":[64,784],"data_offsets":[begin,end]}
//
// with offsets relative to the start of the data section, plus an optional
// "__metadata__" object of string to string. Tensor data is little-endian and
// row-major, and the tensors cover the data section contiguously, without gaps
// or overlaps.
//
// Decode validates everything the format requires (see FormatError) and never
// allocates from a length read from the file. Encode writes what the
// reference writer writes for the same tensors in the same order: compact JSON
// with "__metadata__" first and the tensors in data order, padded with spaces
// to a multiple of 8 bytes.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
)

// DType names an element type as the header spells it.
type DType string

// The element types of the format that are a whole number of bytes wide. The
// sub-byte types of the reference (F4, F6_E2M3, F6_E3M2) are not supported.
const (
	BOOL        DType = "BOOL"
	U8          DType = "U8"
	I8          DType = "I8"
	F8_E5M2     DType = "F8_E5M2"
	F8_E4M3     DType = "F8_E4M3"
	F8_E8M0     DType = "F8_E8M0"
	F8_E4M3FNUZ DType = "F8_E4M3FNUZ"
	F8_E5M2FNUZ DType = "F8_E5M2FNUZ"
	I16         DType = "I16"
	U16         DType = "U16"
	F16         DType = "F16"
	BF16        DType = "BF16"
	I32         DType = "I32"
	U32         DType = "U32"
	F32         DType = "F32"
	C64         DType = "C64"
	F64         DType = "F64"
	I64         DType = "I64"
	U64         DType = "U64"
)

// Size is the width of one element in bytes, or 0 for a type this package
// does not know.
func (d DType) Size() int {
	switch d {
	case BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ:
		return 1
	case I16, U16, F16, BF16:
		return 2
	case I32, U32, F32:
		return 4
	case C64, F64, I64, U64:
		return 8
	}
	return 0
}

// MaxHeaderSize is the largest JSON header accepted, as in the reference
// implementation. It bounds what a corrupt length prefix can make us read.
const MaxHeaderSize = 100_000_000

// Tensor is one named tensor: its element type, its shape (row-major; an
// empty shape is a scalar) and its raw little-endian bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// File is the content of a safetensors file: the tensors in data order and
// the free-form string metadata (nil when the file has none).
type File struct {
	Tensors  []Tensor
	Metadata map[string]string
}

// Get returns the tensor called name.
func (f *File) Get(name string) (Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// Expect returns the tensor called name after checking that it has the given
// element type and shape, so that a caller loading weights gets one clear
// error, such as
//
//	model.1.weight: shape [32 784], want [64 784]
//
// to which it can add a hint of its own (which flag the file was saved with).
func (f *File) Expect(name string, dtype DType, shape ...int) (Tensor, error) {
	t, ok := f.Get(name)
	if !ok {
		return Tensor{}, fmt.Errorf("%s: no such tensor (the file has %s)", name, f.names())
	}
	if t.DType != dtype {
		return Tensor{}, fmt.Errorf("%s: dtype %s, want %s", name, t.DType, dtype)
	}
	if !slices.Equal(t.Shape, shape) {
		return Tensor{}, fmt.Errorf("%s: shape %v, want %v", name, t.Shape, shape)
	}
	if err := t.checkSize(); err != nil {
		return Tensor{}, err
	}
	return t, nil
}

// names lists the tensor names for an error message, shortened when long.
func (f *File) names() string {
	const show = 8
	if len(f.Tensors) == 0 {
		return "no tensors"
	}
	var names []string
	for i, t := range f.Tensors {
		if i == show {
			names = append(names, fmt.Sprintf("and %d more", len(f.Tensors)-show))
			break
		}
		names = append(names, t.Name)
	}
	return fmt.Sprintf("%d tensors: %s", len(f.Tensors), strings.Join(names, ", "))
}

// FromFloat32s makes an F32 tensor holding a copy of v. The shape's product
// should be len(v); Encode and Float32s report it when it is not.
func FromFloat32s(name string, shape []int, v []float32) Tensor {
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	return Tensor{Name: name, DType: F32, Shape: slices.Clone(shape), Data: data}
}

// FromInt64s makes an I64 tensor holding a copy of v. The shape's product
// should be len(v); Encode and Int64s report it when it is not.
func FromInt64s(name string, shape []int, v []int64) Tensor {
	data := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(data[8*i:], uint64(x))
	}
	return Tensor{Name: name, DType: I64, Shape: slices.Clone(shape), Data: data}
}

// Float32s returns the elements of an F32 tensor in row-major order.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.want(F32); err != nil {
		return nil, err
	}
	v := make([]float32, len(t.Data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return v, nil
}

// Int64s returns the elements of an I64 tensor in row-major order.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.want(I64); err != nil {
		return nil, err
	}
	v := make([]int64, len(t.Data)/8)
	for i := range v {
		v[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return v, nil
}

// want checks that t has element type d and as many bytes as its shape says.
func (t Tensor) want(d DType) error {
	if t.DType != d {
		return fmt.Errorf("%s: dtype %s, want %s", t.Name, t.DType, d)
	}
	return t.checkSize()
}

// checkSize checks that the shape is valid and that Data holds exactly the
// bytes the shape and element type call for.
func (t Tensor) checkSize() error {
	size := t.DType.Size()
	if size == 0 {
		return fmt.Errorf("%s: unknown dtype %q", t.Name, t.DType)
	}
	n, err := byteSize(t.Shape, size)
	if err != nil {
		return fmt.Errorf("%s: %v", t.Name, err)
	}
	if uint64(len(t.Data)) != n {
		return fmt.Errorf("%s: %d bytes of data, want %d for %s %v", t.Name, len(t.Data), n, t.DType, t.Shape)
	}
	return nil
}

// byteSize is the product of shape times size, or an error when a dimension
// is negative or the product overflows. Like the reference implementation it
// multiplies the dimensions left to right, then by the element size, and
// reports an overflow even when a later dimension is zero.
func byteSize(shape []int, size int) (uint64, error) {
	tooLarge := func() error {
		return fmt.Errorf("shape %v is too large: its size in bytes overflows 64 bits", shape)
	}
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 {
			return 0, tooLarge()
		}
		n = lo
	}
	hi, lo := bits.Mul64(n, uint64(size))
	if hi != 0 {
		return 0, tooLarge()
	}
	return lo, nil
}
