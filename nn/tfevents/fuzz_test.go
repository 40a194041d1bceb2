package tfevents

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the FuzzReader seed corpus in testdata/fuzz/FuzzReader")

// sampleFile returns a small event file holding every kind of value we
// write, made in memory.
func sampleFile(t testing.TB) []byte {
	var buf bytes.Buffer
	w := newWriter(&buf, "sample", config{now: fixedClock(time.Unix(1700000000, 0))})
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	img.Pix[5] = 255
	for _, err := range []error{
		w.WriteEvent(Event{FileVersion: FileVersion}),
		w.Scalar("train/loss", 1, 2.3),
		w.Scalar("test/accuracy", 1, 0.97),
		w.Text("hparams", 0, "| lr | 0.005 |"),
		w.Image("digits", 0, img),
		w.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestUpdateFuzzSeeds rewrites the seed corpus when run with -update-seeds:
// a whole file, damaged copies of it, and the real TensorFlow records.
func TestUpdateFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to rewrite testdata/fuzz/FuzzReader")
	}
	file := sampleFile(t)
	flipped := bytes.Clone(file)
	flipped[len(flipped)/2] ^= 1
	seeds := map[string][]byte{
		"whole":          file,
		"truncated":      file[:len(file)-7],
		"flipped":        flipped,
		"tensorflow":     append(bytes.Clone(goldenRecord1), goldenRecord2...),
		"header_only":    file[:headerSize],
		"bad_event_data": appendRecord(nil, []byte{0x2a, 0x05, 0x0a, 0x03, 0x12, 0x01}),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzReader")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range seeds {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzReader feeds arbitrary bytes to the reader. It must never panic, must
// report damage only as *RecordError, and the events it keeps must be
// exactly those of the bytes before the damaged record.
func FuzzReader(f *testing.F) {
	sample := sampleFile(f)
	f.Add(sample)
	// A file cut inside its last record, and one with a flipped data byte
	// (issue 16: plot must not take either for a whole run).
	f.Add(sample[:len(sample)-3])
	flipped := bytes.Clone(sample)
	flipped[len(flipped)/2] ^= 0x40
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		events, err := ReadAll(bytes.NewReader(data), "fuzz")
		if err != nil {
			var re *RecordError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T) is not a *RecordError", err, err)
			}
			if re.Record != len(events) {
				t.Fatalf("error at record %d after %d events", re.Record, len(events))
			}
			if re.Offset < 0 || re.Offset > int64(len(data)) {
				t.Fatalf("offset %d outside the %d input bytes", re.Offset, len(data))
			}
			again, err := ReadAll(bytes.NewReader(data[:re.Offset]), "prefix")
			if err != nil || len(again) != len(events) {
				t.Fatalf("the %d bytes before the damage gave %d events and %v, want %d and nil",
					re.Offset, len(again), err, len(events))
			}
		}
		// Whatever we decoded and can encode must decode again, unchanged
		// for scalars.
		for i, e := range events {
			enc, err := MarshalEvent(e)
			if err != nil {
				continue // a KindOther value, or a file version beside values
			}
			back, err := UnmarshalEvent(enc, nil)
			if err != nil {
				t.Fatalf("event %d: re-encoded event does not decode: %v", i, err)
			}
			if len(back.Values) != len(e.Values) || back.Step != e.Step || math.Float64bits(back.WallTime) != math.Float64bits(e.WallTime) {
				t.Fatalf("event %d: %+v came back as %+v", i, e, back)
			}
			for j, v := range e.Values {
				if v.Kind == KindScalar && math.Float32bits(float32(v.Scalar)) != math.Float32bits(float32(back.Values[j].Scalar)) {
					t.Fatalf("event %d value %d: scalar %v came back as %v", i, j, v.Scalar, back.Values[j].Scalar)
				}
			}
		}
	})
}
