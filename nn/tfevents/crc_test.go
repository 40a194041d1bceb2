package tfevents

import (
	"bytes"
	"errors"
	"io"
	"math"
	"testing"
)

// TestCRC32C checks the checksum against published CRC-32C vectors: the
// RFC 3720 (iSCSI) section B.4 examples and the usual "123456789" check
// value.
func TestCRC32C(t *testing.T) {
	seq := func(f func(i int) byte) []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = f(i)
		}
		return b
	}
	iscsiRead := []byte{
		0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	}
	tests := []struct {
		name string
		data []byte
		want uint32
	}{
		{"empty", nil, 0},
		{"123456789", []byte("123456789"), 0xe3069283},
		{"32 zeros", seq(func(int) byte { return 0 }), 0x8a9136aa},
		{"32 0xff", seq(func(int) byte { return 0xff }), 0x62a8ab43},
		{"0..31", seq(func(i int) byte { return byte(i) }), 0x46dd794e},
		{"31..0", seq(func(i int) byte { return byte(31 - i) }), 0x113fdb5c},
		{"iSCSI read command", iscsiRead, 0xd9963a56},
	}
	for _, tt := range tests {
		if got := CRC32C(tt.data); got != tt.want {
			t.Errorf("CRC32C(%s) = %#08x, want %#08x", tt.name, got, tt.want)
		}
	}
}

// TestMaskedCRC32C checks masking against values from real TensorFlow event
// files, as quoted in TensorBoard's Rust data server (masked_crc.rs and
// tf_record.rs tests).
func TestMaskedCRC32C(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want uint32
	}{
		// Event{file_version: "CRC test, one two"}.
		{"file_version event", []byte("\x1a\x11CRC test, one two"), 0x5794d08a},
		// The length field of a 24-byte record.
		{"length 24", []byte{0x18, 0, 0, 0, 0, 0, 0, 0}, 0x224b7fa3},
	}
	for _, tt := range tests {
		if got := MaskedCRC32C(tt.data); got != tt.want {
			t.Errorf("MaskedCRC32C(%s) = %#08x, want %#08x", tt.name, got, tt.want)
		}
	}
	for _, crc := range []uint32{0, 1, 0x8a9136aa, 0xffffffff, CRC32C([]byte("foo"))} {
		m := MaskCRC(crc)
		if m == crc || MaskCRC(m) == crc {
			t.Errorf("MaskCRC(%#x) = %#x: masking should change the value", crc, m)
		}
		if got := UnmaskCRC(m); got != crc {
			t.Errorf("UnmaskCRC(MaskCRC(%#x)) = %#x", crc, got)
		}
		if got := UnmaskCRC(UnmaskCRC(MaskCRC(m))); got != crc {
			t.Errorf("double mask/unmask of %#x gave %#x", crc, got)
		}
	}
}

// goldenFile is the start of a real TensorFlow 2 event file holding
// tf.summary.scalar("accuracy", 0.99, step=77), byte for byte as quoted in
// TensorBoard's tf_record.rs tests.
var (
	goldenRecord1 = []byte("\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7f\x4b\x22" +
		"\x09\x00\x00\x80\x38\x99\xd6\xd7\x41\x1a\x0dbrain.Event:2" +
		"\x12\x4b\x36\xab")
	goldenRecord2 = []byte("\x32\x00\x00\x00\x00\x00\x00\x00\x24\x19\x56\xec" +
		"\x09\xc4\x05\xb7\x3d\x99\xd6\xd7\x41" +
		"\x10\x4d\x2a\x25" +
		"\x0a\x23\x0a\x08accuracy" +
		"\x42\x0a\x08\x01\x12\x00\x22\x04\xa4\x70\x7d\x3f\x4a" +
		"\x0b\x0a\x09\x0a\x07scalars" +
		"\xa5\x5b\x64\x33")
)

// TestGoldenFileVersionRecord encodes the first record of a real event file
// and compares every byte: framing, CRCs and protobuf.
func TestGoldenFileVersionRecord(t *testing.T) {
	wall := math.Float64frombits(0x41d7d69938800000)
	data, err := MarshalEvent(Event{WallTime: wall, FileVersion: FileVersion})
	if err != nil {
		t.Fatal(err)
	}
	if got := appendRecord(nil, data); !bytes.Equal(got, goldenRecord1) {
		t.Errorf("record =\n% x\nwant\n% x", got, goldenRecord1)
	}
}

// TestReadTensorFlowFile reads the real event file, whose scalar is in the
// TensorFlow 2 tensor form, not simple_value.
func TestReadTensorFlowFile(t *testing.T) {
	file := append(append([]byte{}, goldenRecord1...), goldenRecord2...)
	events, err := ReadAll(bytes.NewReader(file), "golden")
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("got %d events, want 2", len(events))
	}
	if events[0].FileVersion != FileVersion || events[0].WallTime != math.Float64frombits(0x41d7d69938800000) {
		t.Errorf("first event = %+v", events[0])
	}
	pts := Scalars(events, "accuracy")
	if len(pts) != 1 || pts[0].Step != 77 || pts[0].Value != float64(float32(0.99)) {
		t.Errorf("accuracy = %+v, want one point 0.99 at step 77", pts)
	}
	if v := events[1].Values[0]; v.Plugin != "scalars" {
		t.Errorf("plugin = %q, want scalars", v.Plugin)
	}
}

// TestReaderStops checks that a clean end is io.EOF and that it stays so.
func TestReaderStops(t *testing.T) {
	r := NewReader(bytes.NewReader(goldenRecord1), "golden")
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next at end = %v, want io.EOF", err)
		}
	}
}
