package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"unicode/utf8"
)

// FormatError reports data that is not a valid safetensors file.
type FormatError struct {
	File    string // the name given to Decode, or the path given to ReadFile
	Problem string // what is wrong, naming the tensor where there is one
}

func (e *FormatError) Error() string {
	file := e.File
	if file == "" {
		file = "<data>"
	}
	return fmt.Sprintf("%s: not a valid safetensors file: %s", file, e.Problem)
}

// ReadFile reads and decodes the safetensors file at path, within the
// default Limits.
func ReadFile(path string) (*File, error) {
	return ReadFileChecked(path, Limits{}, nil)
}

// Limits bound what ReadFileChecked reads. A zero field takes its default.
type Limits struct {
	// HeaderBytes bounds the JSON header; default MaxHeaderSize.
	HeaderBytes int64
	// FileBytes bounds the whole file; default 1<<40.
	FileBytes int64
}

// ReadFileChecked reads the safetensors file at path in two steps, so that a
// file is judged by what it declares before its data are read: first the
// length prefix and the header, which must fit lim, and which check (when not
// nil) sees as a File whose tensors have no Data; then exactly the data the
// header describes, which must fit lim too. A file that claims terabytes, a
// device such as /dev/zero or a file refused by check costs no more than its
// header. Format problems are *FormatError; check's error is returned as it is.
func ReadFileChecked(path string, lim Limits, check func(*File) error) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read safetensors file: %w", err)
	}
	defer fh.Close()
	size := int64(-1)
	if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() {
		size = st.Size()
	}
	return ReadChecked(fh, path, size, lim, check)
}

// ReadChecked is ReadFileChecked on a stream: r holds the file, name names
// it in errors, and size, when not negative, is its length (a hint, so that
// the data are read into one buffer of the right size).
func ReadChecked(r io.Reader, name string, size int64, lim Limits, check func(*File) error) (*File, error) {
	if lim.HeaderBytes <= 0 || lim.HeaderBytes > MaxHeaderSize {
		lim.HeaderBytes = MaxHeaderSize
	}
	if lim.FileBytes <= 0 {
		lim.FileBytes = 1 << 40
	}
	fail := func(format string, args ...any) (*File, error) {
		return nil, &FormatError{File: name, Problem: fmt.Sprintf(format, args...)}
	}
	var prefix [8]byte
	if n, err := io.ReadFull(r, prefix[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fail("the file is %d bytes long, too short for the 8-byte header length", n)
		}
		return nil, fmt.Errorf("read safetensors file %s: %w", name, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > uint64(lim.HeaderBytes) {
		return fail("header length %d is over the %d-byte limit (corrupt length prefix, or not a file of this kind)", n, lim.HeaderBytes)
	}
	var buf bytes.Buffer
	buf.Write(prefix[:])
	if _, err := io.Copy(&buf, io.LimitReader(r, int64(n))); err != nil {
		return nil, fmt.Errorf("read safetensors file %s: %w", name, err)
	}
	if uint64(buf.Len()) < 8+n {
		return fail("header length %d runs past the end of the file (%d bytes follow the length prefix)", n, buf.Len()-8)
	}
	head, dataLen, err := decodeHeader(buf.Bytes()[8:], name)
	if err != nil {
		return nil, err
	}
	if total := 8 + n + dataLen; dataLen > uint64(lim.FileBytes) || total > uint64(lim.FileBytes) {
		return fail("the header describes %d bytes of tensor data, which makes the file longer than the limit of %d bytes", dataLen, lim.FileBytes)
	}
	if check != nil {
		if err := check(head); err != nil {
			return nil, err
		}
	}
	// Read the data the header describes and one byte more, to notice a
	// longer file; a shorter one stops at its end.
	if size >= 0 {
		buf.Grow(int(min(dataLen, uint64(size))))
	}
	if _, err := io.Copy(&buf, io.LimitReader(r, int64(dataLen)+1)); err != nil {
		return nil, fmt.Errorf("read safetensors file %s: %w", name, err)
	}
	return Decode(buf.Bytes(), name)
}

// entry is one tensor of a header with its data offsets.
type entry struct {
	tensor     Tensor
	begin, end uint64
}

// parseHeader checks a header and returns its metadata and its tensors
// (without data) with their offsets, which must lie within dataLen bytes.
// Problems are returned as the text of a FormatError.
func parseHeader(header []byte, dataLen uint64) (map[string]string, []entry, string) {
	if !utf8.Valid(header) {
		return nil, nil, "header is not valid UTF-8"
	}
	if len(header) == 0 {
		return nil, nil, "header length is 0; the header must be a JSON object"
	}
	if header[0] != '{' {
		return nil, nil, "header does not start with '{'"
	}
	fields, err := objectFields(header)
	if err != nil {
		return nil, nil, fmt.Sprintf("header: %v", err)
	}
	var md map[string]string
	var entries []entry
	for _, fd := range fields {
		if fd.key == metadataKey {
			if md, err = parseMetadata(fd.value); err != nil {
				return nil, nil, fmt.Sprintf("%s: %v", metadataKey, err)
			}
			continue
		}
		t, begin, end, err := parseEntry(fd.key, fd.value, dataLen)
		if err != nil {
			return nil, nil, fmt.Sprintf("tensor %q: %v", fd.key, err)
		}
		entries = append(entries, entry{t, begin, end})
	}
	return md, entries, ""
}

// decodeHeader parses a header alone: the tensors (without data) and the
// metadata, and the length of the data section they describe (the largest
// end offset).
func decodeHeader(header []byte, name string) (*File, uint64, error) {
	md, entries, problem := parseHeader(header, math.MaxUint64)
	if problem != "" {
		return nil, 0, &FormatError{File: name, Problem: problem}
	}
	f := &File{Metadata: md}
	var dataLen uint64
	for _, e := range entries {
		f.Tensors = append(f.Tensors, e.tensor)
		dataLen = max(dataLen, e.end)
	}
	return f, dataLen, nil
}

// metadataKey is the header key of the free-form metadata; no tensor may
// have this name.
const metadataKey = "__metadata__"

// Decode parses a whole safetensors file held in data; name identifies it in
// errors. Every problem is reported as a *FormatError. The tensors come back
// in data order (by data_offsets; header order among equal offsets), and
// their Data slices point into data rather than copying it.
func Decode(data []byte, name string) (*File, error) {
	fail := func(format string, args ...any) (*File, error) {
		return nil, &FormatError{File: name, Problem: fmt.Sprintf(format, args...)}
	}
	if len(data) < 8 {
		return fail("the file is %d bytes long, too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > MaxHeaderSize {
		return fail("header length %d is over the %d-byte limit (corrupt length prefix?)", n, MaxHeaderSize)
	}
	if n > uint64(len(data)-8) {
		return fail("header length %d runs past the end of the file (%d bytes follow the length prefix)", n, len(data)-8)
	}
	header := data[8 : 8+n]
	body := data[8+n:]
	md, entries, problem := parseHeader(header, uint64(len(body)))
	if problem != "" {
		return fail("%s", problem)
	}
	f := &File{Metadata: md}

	// The tensors must tile the data section: sorted by offsets, each one
	// begins where the previous one ended and the last one ends at the end.
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].begin != entries[j].begin {
			return entries[i].begin < entries[j].begin
		}
		return entries[i].end < entries[j].end
	})
	var pos uint64
	for i, e := range entries {
		switch {
		case e.begin < pos:
			prev := entries[i-1]
			return fail("tensor %q: data_offsets [%d, %d] overlap tensor %q at [%d, %d]",
				e.tensor.Name, e.begin, e.end, prev.tensor.Name, prev.begin, prev.end)
		case e.begin > pos:
			return fail("bytes [%d, %d) of the data section belong to no tensor (the next one, %q, begins at %d)",
				pos, e.begin, e.tensor.Name, e.begin)
		}
		pos = e.end
		e.tensor.Data = body[e.begin:e.end:e.end]
		f.Tensors = append(f.Tensors, e.tensor)
	}
	if pos != uint64(len(body)) {
		return fail("bytes [%d, %d) at the end of the data section belong to no tensor", pos, len(body))
	}
	return f, nil
}

// parseEntry checks one tensor's header entry against the data section's
// length and returns the tensor (without its data) and its offsets.
func parseEntry(name string, raw json.RawMessage, dataLen uint64) (t Tensor, begin, end uint64, err error) {
	fields, err := objectFields(raw)
	if err != nil {
		return t, 0, 0, fmt.Errorf("entry: %v", err)
	}
	var dtype, shape, offsets json.RawMessage
	for _, fd := range fields {
		switch fd.key {
		case "dtype":
			dtype = fd.value
		case "shape":
			shape = fd.value
		case "data_offsets":
			offsets = fd.value
		}
	}
	for _, f := range []struct {
		key   string
		value json.RawMessage
	}{{"dtype", dtype}, {"shape", shape}, {"data_offsets", offsets}} {
		if f.value == nil {
			return t, 0, 0, fmt.Errorf("entry has no %q", f.key)
		}
	}

	t.Name = name
	s, ok := jsonString(dtype)
	if !ok {
		return t, 0, 0, fmt.Errorf("dtype %s is not a string", brief(dtype))
	}
	t.DType = DType(s)
	if t.DType.Size() == 0 {
		switch s {
		case "F4", "F6_E2M3", "F6_E3M2":
			return t, 0, 0, fmt.Errorf("dtype %s is narrower than a byte, which this package does not support", s)
		}
		return t, 0, 0, fmt.Errorf("unknown dtype %q", s)
	}

	dims, ok := jsonArray(shape)
	if !ok {
		return t, 0, 0, fmt.Errorf("shape %s is not an array", brief(shape))
	}
	t.Shape = make([]int, len(dims))
	for i, d := range dims {
		v, err := jsonUint(d)
		if err != nil {
			return t, 0, 0, fmt.Errorf("shape: %v", err)
		}
		if v > math.MaxInt {
			return t, 0, 0, fmt.Errorf("shape: dimension %d is too large", v)
		}
		t.Shape[i] = int(v)
	}

	offs, ok := jsonArray(offsets)
	if !ok || len(offs) != 2 {
		return t, 0, 0, fmt.Errorf("data_offsets %s is not a pair [begin, end]", brief(offsets))
	}
	if begin, err = jsonUint(offs[0]); err != nil {
		return t, 0, 0, fmt.Errorf("data_offsets: %v", err)
	}
	if end, err = jsonUint(offs[1]); err != nil {
		return t, 0, 0, fmt.Errorf("data_offsets: %v", err)
	}
	if begin > end {
		return t, 0, 0, fmt.Errorf("data_offsets [%d, %d] end before they begin", begin, end)
	}
	if end > dataLen {
		return t, 0, 0, fmt.Errorf("data_offsets [%d, %d] run past the end of the %d-byte data section", begin, end, dataLen)
	}
	size, err := byteSize(t.Shape, t.DType.Size())
	if err != nil {
		return t, 0, 0, err
	}
	if end-begin != size {
		return t, 0, 0, fmt.Errorf("data_offsets [%d, %d] hold %d bytes, but %s %v needs %d",
			begin, end, end-begin, t.DType, t.Shape, size)
	}
	return t, begin, end, nil
}

// parseMetadata parses the __metadata__ object of string values; null and
// an empty object both give nil.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	fields, err := objectFields(raw)
	if err != nil {
		return nil, err
	}
	if len(fields) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(fields))
	for _, fd := range fields {
		v, ok := jsonString(fd.value)
		if !ok {
			return nil, fmt.Errorf("the value of %q is %s, not a string", fd.key, brief(fd.value))
		}
		m[fd.key] = v
	}
	return m, nil
}

// field is one member of a JSON object, in the order it was written.
type field struct {
	key   string
	value json.RawMessage
}

// objectFields splits a JSON object into its members, rejecting anything
// that is not a single object and any key that appears twice (which
// encoding/json would silently resolve to the last value).
func objectFields(raw []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var fields []field
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("not valid JSON: object key %v is not a string", tok)
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("not valid JSON: %v", err)
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		fields = append(fields, field{key, value})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	rest := raw[dec.InputOffset():]
	if len(bytes.Trim(rest, " \t\r\n")) != 0 {
		return nil, fmt.Errorf("unexpected data after the JSON object: %.20q", rest)
	}
	return fields, nil
}

// jsonString decodes a JSON string; null and other types are not strings.
func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonArray decodes a JSON array into its elements; null is not an array.
func jsonArray(raw json.RawMessage) ([]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	var elems []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &elems) != nil {
		return nil, false
	}
	return elems, true
}

// jsonUint decodes a JSON number that must be a non-negative integer written
// without fraction or exponent, as the reference reads its usize fields.
func jsonUint(raw json.RawMessage) (uint64, error) {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 1 && s[0] == '-' && isDigits(s[1:]) {
		return 0, fmt.Errorf("negative value %s", s)
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("%s is not a non-negative integer", brief(raw))
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s does not fit in 64 bits", s)
	}
	return v, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// brief shortens a piece of JSON for an error message.
func brief(raw []byte) string {
	const limit = 40
	raw = bytes.TrimSpace(raw)
	if len(raw) > limit {
		n := limit
		for n > 0 && !utf8.RuneStart(raw[n]) {
			n-- // cut between runes
		}
		return string(raw[:n]) + "..."
	}
	return string(raw)
}
