package tfevents

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeRun writes a file version event and n scalar events to a file in a
// new directory and returns the path, the events and each record's offset.
func writeRun(t *testing.T, n int) (string, []Event, []int64) {
	t.Helper()
	w, err := create(t.TempDir(), config{now: fixedClock(time.Unix(1600000000, 0))})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Scalar("loss", int64(i), float64(i)/4); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	var offsets []int64
	var off int64
	for _, e := range events {
		offsets = append(offsets, off)
		data, _ := MarshalEvent(e)
		off += int64(headerSize + len(data) + footerSize)
	}
	return w.Path(), events, append(offsets, off)
}

func TestDamagedFile(t *testing.T) {
	path, events, offsets := writeRun(t, 4)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(orig)) != offsets[len(offsets)-1] {
		t.Fatalf("file has %d bytes, records add up to %d", len(orig), offsets[len(offsets)-1])
	}
	flip := func(at int64) func([]byte) []byte {
		return func(b []byte) []byte { b[at] ^= 0x40; return b }
	}
	cut := func(at int64) func([]byte) []byte {
		return func(b []byte) []byte { return b[:at] }
	}
	const r = 2 // the damaged record in most cases
	tests := []struct {
		name   string
		damage func([]byte) []byte
		record int
		kind   error
		detail string
	}{
		{"cut inside header", cut(offsets[r] + 5), r, ErrTruncated, "header has 5 of 12 bytes"},
		{"cut after header", cut(offsets[r] + headerSize), r, ErrTruncated, "data and CRC have 0 of"},
		{"cut inside data", cut(offsets[r] + headerSize + 3), r, ErrTruncated, "data and CRC have 3 of"},
		{"cut inside data CRC", cut(offsets[r+1] - 1), r, ErrTruncated, "data and CRC have"},
		{"length bit flipped", flip(offsets[r]), r, ErrLengthCRC, "stored 0x"},
		{"length CRC bit flipped", flip(offsets[r] + 9), r, ErrLengthCRC, "computed 0x"},
		{"data bit flipped", flip(offsets[r] + headerSize + 1), r, ErrDataCRC, "stored 0x"},
		{"data CRC bit flipped", flip(offsets[r+1] - 2), r, ErrDataCRC, "computed 0x"},
		{"first record damaged", flip(3), 0, ErrLengthCRC, ""},
		{"last record damaged", flip(offsets[len(offsets)-1] - 1), len(events) - 1, ErrDataCRC, ""},
		{"cut at record boundary", cut(offsets[r]), -1, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			damaged := filepath.Join(t.TempDir(), "events.out.tfevents.1.damaged")
			if err := os.WriteFile(damaged, tt.damage(bytes.Clone(orig)), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := ReadFile(damaged)
			if tt.kind == nil { // clean cut: fewer events, no error
				if err != nil || len(got) != r {
					t.Fatalf("got %d events, err %v; want %d, nil", len(got), err, r)
				}
				return
			}
			if len(got) != tt.record || (len(got) > 0 && !reflect.DeepEqual(got, events[:tt.record])) {
				t.Errorf("kept %d events, want the %d before the damage", len(got), tt.record)
			}
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RecordError", err, err)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("err = %v, want kind %v", err, tt.kind)
			}
			if re.File != damaged || re.Record != tt.record || re.Offset != offsets[tt.record] {
				t.Errorf("error at file %s record %d offset %d, want %s record %d offset %d",
					re.File, re.Record, re.Offset, damaged, tt.record, offsets[tt.record])
			}
			msg := err.Error()
			for _, want := range []string{damaged, fmt.Sprintf("record %d at byte %d", tt.record, offsets[tt.record]), tt.kind.Error(), tt.detail} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not contain %q", msg, want)
				}
			}
		})
	}
}

// TestReadDirDamaged: a damaged file keeps its whole records, the next file
// is still read, and the error names the damaged file.
func TestReadDirDamaged(t *testing.T) {
	path, events, offsets := writeRun(t, 3)
	dir := filepath.Dir(path)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, b[:offsets[2]+4], 0o644)
	w, err := create(dir, config{now: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	w.Scalar("loss", 9, 9)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(dir)
	if !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want a truncation in %s", err, path)
	}
	if pts := Scalars(got, "loss"); len(pts) != 2 || pts[0] != Scalars(events, "loss")[0] || pts[1].Step != 9 {
		t.Errorf("loss = %+v, want step 0 from the damaged file and step 9 from the next", pts)
	}
}

// TestBadEventContinues: an intact record that is not an Event is reported,
// and the reader can go on to the next record.
func TestBadEventContinues(t *testing.T) {
	good, _ := MarshalEvent(Event{Step: 7, Values: []Value{{Tag: "x", Kind: KindScalar, Scalar: 1}}})
	var file []byte
	file = appendRecord(file, good)
	file = appendRecord(file, []byte{0x0a, 0xff}) // length runs past the end
	file = appendRecord(file, good)
	r := NewReader(bytes.NewReader(file), "mixed")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := r.Next()
	var re *RecordError
	if !errors.Is(err, ErrBadEvent) || !errors.As(err, &re) || re.Record != 1 || re.Offset != int64(len(good)+16) {
		t.Fatalf("second record: err = %v, want ErrBadEvent at record 1 byte %d", err, len(good)+16)
	}
	if e, err := r.Next(); err != nil || e.Step != 7 {
		t.Fatalf("third record: %+v, %v", e, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

// TestHugeLength: a header that claims more than MaxRecordSize (with a
// valid CRC) is refused without allocating it.
func TestHugeLength(t *testing.T) {
	var hdr [headerSize]byte
	binary.LittleEndian.PutUint64(hdr[:8], 1<<60)
	binary.LittleEndian.PutUint32(hdr[8:], MaskedCRC32C(hdr[:8]))
	_, err := ReadAll(bytes.NewReader(append(hdr[:], "short data"...)), "huge")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
}
