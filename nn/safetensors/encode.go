package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/mnist-go/mnist/internal/atomicfile"
)

// WriteFile encodes f into the file at path, atomically: readers see the old
// file or the complete new one, never a partial write.
func WriteFile(path string, f *File) error {
	// Check f before creating anything on disk.
	if _, err := f.header(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return atomicfile.Write(path, func(w io.Writer) error { return Encode(w, f) })
}

// Encode writes f to w in the safetensors format. The output depends only on
// f: the tensors' data follows in the order of f.Tensors, without gaps, and
// the header is compact JSON with "__metadata__" first (omitted when
// f.Metadata is empty; its keys sorted as encoding/json sorts map keys) and
// the tensors in data order, padded with spaces to a multiple of 8 bytes.
// That is byte for byte what the reference writer produces when f.Tensors is
// in its order (wider dtypes first, then by name), which also keeps every
// tensor aligned to its element size.
//
// Encode checks f first and writes nothing if a tensor has an unknown dtype,
// a negative dimension, or Data of the wrong length for its shape, or if two
// tensors share a name.
func Encode(w io.Writer, f *File) error {
	header, err := f.header()
	if err != nil {
		return err
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(header)))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("safetensors: encode: %w", err)
	}
	for _, t := range f.Tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: encode: tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// header validates f and returns its padded JSON header.
func (f *File) header() ([]byte, error) {
	fail := func(format string, args ...any) ([]byte, error) {
		return nil, fmt.Errorf("safetensors: encode: "+format, args...)
	}
	if f == nil {
		return nil, errors.New("safetensors: encode: nil *File")
	}
	b := []byte{'{'}
	if len(f.Metadata) > 0 {
		b = appendString(b, metadataKey)
		b = append(b, ":{"...)
		for i, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			v := f.Metadata[k]
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return fail("metadata %q: %q: not valid UTF-8", k, v)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
		b = append(b, '}')
	}
	seen := make(map[string]bool, len(f.Tensors))
	var offset uint64
	for i, t := range f.Tensors {
		switch {
		case t.Name == metadataKey:
			return fail("a tensor cannot be called %q, the header's metadata key", metadataKey)
		case !utf8.ValidString(t.Name):
			return fail("tensor name %q is not valid UTF-8", t.Name)
		case seen[t.Name]:
			return fail("two tensors are called %q", t.Name)
		}
		seen[t.Name] = true
		if err := t.checkSize(); err != nil {
			return fail("%v", err)
		}
		if i > 0 || len(f.Metadata) > 0 {
			b = append(b, ',')
		}
		b = appendString(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendString(b, string(t.DType))
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendUint(b, offset, 10)
		b = append(b, ',')
		offset += uint64(len(t.Data))
		b = strconv.AppendUint(b, offset, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	if len(b) > MaxHeaderSize {
		return fail("the header would be %d bytes, over the %d-byte limit readers accept", len(b), MaxHeaderSize)
	}
	return b, nil
}

// appendString appends s as a JSON string escaped the way the reference
// writer (serde_json) escapes it: quote, backslash and control characters
// only, everything else as UTF-8.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, `\b`...)
		case '\f':
			b = append(b, `\f`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		case '\t':
			b = append(b, `\t`...)
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}
