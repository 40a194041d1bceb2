package tfevents

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fixedClock returns a clock that starts at start and advances by a
// millisecond at each call.
func fixedClock(start time.Time) func() time.Time {
	n := 0
	return func() time.Time {
		n++
		return start.Add(time.Duration(n) * time.Millisecond)
	}
}

// testImage is a small RGBA gradient with a transparent corner.
func testImage() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 5, 3))
	for y := range 3 {
		for x := range 5 {
			img.Set(x, y, color.RGBA{uint8(40 * x), uint8(80 * y), 200, 255})
		}
	}
	img.Set(0, 0, color.RGBA{})
	return img
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1700000000, 0)
	w, err := create(dir, config{now: fixedClock(start), host: "box"})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "events.out.tfevents.1700000000.box"); w.Path() != want {
		t.Errorf("Path() = %q, want %q", w.Path(), want)
	}
	gray := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i)
	}
	markdown := "| lr | 0.005 |\n|---|---|\n\nMLP 784-64-32-10 ✓"
	steps := []struct {
		write func() error
		want  Value
		step  int64
	}{
		{func() error { return w.Scalar("train/loss", 1, 2.25) }, Value{Tag: "train/loss", Kind: KindScalar, Scalar: 2.25}, 1},
		{func() error { return w.Scalar("train/loss", 2, 0.1) }, Value{Tag: "train/loss", Kind: KindScalar, Scalar: float64(float32(0.1))}, 2},
		{func() error { return w.Scalar("test/accuracy", 0, 0) }, Value{Tag: "test/accuracy", Kind: KindScalar}, 0},
		{func() error { return w.Scalar("nan", -3, math.Inf(-1)) }, Value{Tag: "nan", Kind: KindScalar, Scalar: math.Inf(-1)}, -3},
		{func() error { return w.Text("hparams", 0, markdown) }, Value{Tag: "hparams", Kind: KindText, Text: markdown, Plugin: "text"}, 0},
		{func() error { return w.Text("empty", 5, "") }, Value{Tag: "empty", Kind: KindText, Plugin: "text"}, 5},
		{func() error { return w.Image("digits", 3, gray) }, Value{Tag: "digits", Kind: KindImage, Width: 28, Height: 28, Colorspace: ColorspaceGray}, 3},
		{func() error { return w.Image("rgba", 4, testImage()) }, Value{Tag: "rgba", Kind: KindImage, Width: 5, Height: 3, Colorspace: ColorspaceRGBA}, 4},
	}
	for i, s := range steps {
		if err := s.write(); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	events, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != len(steps)+1 {
		t.Fatalf("read %d events, want %d", len(events), len(steps)+1)
	}
	// The clock's first tick named the file, the second stamped the header.
	if e := events[0]; e.FileVersion != FileVersion || len(e.Values) != 0 || math.Abs(e.WallTime-1700000000.002) > 1e-6 {
		t.Errorf("first event = %+v, want the file version at 1700000000.002", e)
	}
	for i, s := range steps {
		e := events[i+1]
		if e.Step != s.step {
			t.Errorf("event %d: step %d, want %d", i+1, e.Step, s.step)
		}
		if want := 1700000000 + float64(i+3)/1000; math.Abs(e.WallTime-want) > 1e-6 {
			t.Errorf("event %d: wall time %f, want %f", i+1, e.WallTime, want)
		}
		if len(e.Values) != 1 {
			t.Fatalf("event %d: %d values, want 1", i+1, len(e.Values))
		}
		got := e.Values[0]
		got.Image = nil // compared below
		if !reflect.DeepEqual(got, s.want) {
			t.Errorf("event %d: value\n%+v, want\n%+v", i+1, got, s.want)
		}
	}
	// The PNGs decode to the very pixels written.
	for _, c := range []struct {
		tag  string
		want image.Image
	}{{"digits", gray}, {"rgba", testImage()}} {
		s := Values(events, c.tag)
		if len(s) != 1 {
			t.Fatalf("%s: %d values", c.tag, len(s))
		}
		img, err := png.Decode(bytes.NewReader(s[0].Image))
		if err != nil {
			t.Fatalf("%s: PNG does not decode: %v", c.tag, err)
		}
		assertSamePixels(t, c.tag, img, c.want)
	}
	if pts := Scalars(events, "train/loss"); len(pts) != 2 || pts[0].Value != 2.25 || pts[1].Step != 2 {
		t.Errorf("Scalars(train/loss) = %+v", pts)
	}
	if got, want := SortedTags(events, KindScalar), []string{"nan", "test/accuracy", "train/loss"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SortedTags(scalar) = %v, want %v", got, want)
	}
}

func assertSamePixels(t *testing.T, name string, got, want image.Image) {
	t.Helper()
	if got.Bounds() != want.Bounds() {
		t.Fatalf("%s: bounds %v, want %v", name, got.Bounds(), want.Bounds())
	}
	b := want.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, a1 := got.At(x, y).RGBA()
			r2, g2, b2, a2 := want.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 || a1 != a2 {
				t.Fatalf("%s: pixel (%d,%d) = %v, want %v", name, x, y, got.At(x, y), want.At(x, y))
			}
		}
	}
}

// TestFileNames checks the name pattern and that a second writer in the
// same second gets a file of its own.
func TestFileNames(t *testing.T) {
	dir := t.TempDir()
	clock := func() time.Time { return time.Unix(1234567890, 0) }
	var paths []string
	for range 3 {
		w, err := create(dir, config{now: clock, host: "my host/x"})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Scalar("a", 1, float64(len(paths))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, w.Path())
	}
	for i, p := range paths {
		want := "events.out.tfevents.1234567890.my_host_x"
		if i > 0 {
			want += fmt.Sprintf(".%d", i)
		}
		if filepath.Base(p) != want {
			t.Errorf("file %d = %s, want %s", i, filepath.Base(p), want)
		}
	}
	files, err := EventFiles(dir)
	if err != nil || !reflect.DeepEqual(files, paths) {
		t.Errorf("EventFiles = %v, %v; want %v", files, err, paths)
	}
	events, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if pts := Scalars(events, "a"); len(pts) != 3 || pts[2].Value != 2 {
		t.Errorf("scalars across files = %+v", pts)
	}
}

func TestReadDirErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "no event files") {
		t.Errorf("empty dir: err = %v", err)
	}
	_, err = ReadDir(filepath.Join(dir, "missing"))
	if err == nil || !regexp.MustCompile(`missing.*no such file`).MatchString(err.Error()) {
		t.Errorf("missing dir: err = %v", err)
	}
}

func TestMarshalRejects(t *testing.T) {
	if _, err := MarshalEvent(Event{FileVersion: FileVersion, Values: []Value{{Tag: "a", Kind: KindScalar}}}); err == nil {
		t.Error("file version and values together: no error")
	}
	if _, err := MarshalEvent(Event{Values: []Value{{Tag: "h", Kind: KindOther}}}); err == nil || !strings.Contains(err.Error(), `"h"`) {
		t.Errorf("KindOther: err = %v, want one naming the tag", err)
	}
}
