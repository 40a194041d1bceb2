package tfevents

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// headerSize is the uint64 length plus its uint32 masked CRC; footerSize the
// data's masked CRC.
const (
	headerSize = 12
	footerSize = 4
)

// MaxRecordSize bounds the length a record header may claim. Our largest
// records are PNG image grids of a few hundred kilobytes; a bigger claim
// means the file is not what we think it is.
const MaxRecordSize = 256 << 20

// The kinds of damage a RecordError reports; test with errors.Is.
var (
	// ErrTruncated: the file ends inside a record. A file that is still
	// being written can end this way; reading it again later may succeed.
	ErrTruncated = errors.New("truncated record")
	// ErrLengthCRC: the length's checksum does not match; the rest of the
	// file cannot be framed.
	ErrLengthCRC = errors.New("length CRC mismatch")
	// ErrDataCRC: the data's checksum does not match.
	ErrDataCRC = errors.New("data CRC mismatch")
	// ErrTooLarge: the length exceeds MaxRecordSize.
	ErrTooLarge = errors.New("record too large")
	// ErrBadEvent: the record is intact but its data is not an Event.
	ErrBadEvent = errors.New("record is not a valid Event protobuf")
)

// RecordError reports a damaged record. Every record before it was read
// whole and returned.
type RecordError struct {
	File   string // the file name given to NewReader
	Record int    // index of the damaged record, counting from 0
	Offset int64  // byte offset of the start of that record
	Err    error  // one of the Err* values above, or an I/O error
	Detail string // what was expected and found
}

func (e *RecordError) Error() string {
	msg := fmt.Sprintf("tfevents: %s: record %d at byte %d: %v", e.File, e.Record, e.Offset, e.Err)
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg + fmt.Sprintf("; the %d records before it are intact", e.Record)
}

// Unwrap returns the kind of damage, for errors.Is.
func (e *RecordError) Unwrap() error { return e.Err }

// appendRecord appends data framed as one TFRecord to dst.
func appendRecord(dst, data []byte) []byte {
	// The header is built in dst itself: a local array would escape to
	// the heap through the checksum (an allocation a record).
	dst = binary.LittleEndian.AppendUint64(dst, uint64(len(data)))
	dst = binary.LittleEndian.AppendUint32(dst, MaskedCRC32C(dst[len(dst)-8:]))
	dst = append(dst, data...)
	return binary.LittleEndian.AppendUint32(dst, MaskedCRC32C(data))
}

// Reader reads events one at a time from a stream of TFRecords.
type Reader struct {
	r       *bufio.Reader
	name    string
	record  int   // index of the next record
	offset  int64 // byte offset of the next record
	plugins map[string]string
	err     error // sticky framing error
}

// NewReader returns a Reader for r; name (usually the file path) is used in
// errors.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), name: name, plugins: map[string]string{}}
}

// Next returns the next event. At the clean end of the stream it returns
// io.EOF; for a damaged record it returns a *RecordError. After a framing
// error (truncation, CRC mismatch, oversized length) every later call
// returns the same error; after ErrBadEvent reading can go on with the next
// record.
func (r *Reader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	data, err := r.nextRecord()
	if err != nil {
		if err != io.EOF {
			r.err = err
		}
		return Event{}, err
	}
	e, err := UnmarshalEvent(data, r.plugins)
	if err != nil {
		err = r.fail(ErrBadEvent, err.Error())
	}
	r.record++
	r.offset += int64(headerSize + len(data) + footerSize)
	return e, err
}

// fail builds the RecordError for the record at the current position.
func (r *Reader) fail(kind error, detail string) error {
	return &RecordError{File: r.name, Record: r.record, Offset: r.offset, Err: kind, Detail: detail}
}

// nextRecord reads and checks one record and returns its data.
func (r *Reader) nextRecord() ([]byte, error) {
	var hdr [headerSize]byte
	n, err := io.ReadFull(r.r, hdr[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case err == io.ErrUnexpectedEOF:
		return nil, r.fail(ErrTruncated, fmt.Sprintf("header has %d of %d bytes", n, headerSize))
	case err != nil:
		return nil, r.fail(err, "reading header")
	}
	length := binary.LittleEndian.Uint64(hdr[:8])
	if stored, got := binary.LittleEndian.Uint32(hdr[8:]), MaskedCRC32C(hdr[:8]); stored != got {
		return nil, r.fail(ErrLengthCRC, fmt.Sprintf("stored %#08x, computed %#08x", stored, got))
	}
	if length > MaxRecordSize {
		return nil, r.fail(ErrTooLarge, fmt.Sprintf("%d bytes, limit %d", length, MaxRecordSize))
	}
	// Grow the buffer as bytes arrive rather than trusting length up front.
	var buf bytes.Buffer
	got, err := io.CopyN(&buf, r.r, int64(length)+footerSize)
	if err == io.EOF {
		return nil, r.fail(ErrTruncated, fmt.Sprintf("data and CRC have %d of %d bytes", got, length+footerSize))
	}
	if err != nil {
		return nil, r.fail(err, "reading data")
	}
	b := buf.Bytes()
	data, footer := b[:length], b[length:]
	if stored, got := binary.LittleEndian.Uint32(footer), MaskedCRC32C(data); stored != got {
		return nil, r.fail(ErrDataCRC, fmt.Sprintf("stored %#08x, computed %#08x", stored, got))
	}
	return data, nil
}
