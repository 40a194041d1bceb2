package tfevents

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// failAfter is a writer that accepts n bytes and then fails like a full disk.
type failAfter struct{ n int }

var errDiskFull = errors.New("no space left on device")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriteErrorsSurface: a full disk is reported by the write or flush that
// meets it, by every later call, and by Close.
func TestWriteErrorsSurface(t *testing.T) {
	w := newWriter(&failAfter{n: 20}, "full.tfevents", config{now: time.Now})
	if err := w.Scalar("a", 1, 1); err != nil {
		t.Fatalf("buffered write: %v", err)
	}
	err := w.Flush()
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "full.tfevents") {
		t.Fatalf("Flush = %v, want the disk-full error naming the file", err)
	}
	if err2 := w.Scalar("a", 2, 2); !errors.Is(err2, errDiskFull) {
		t.Errorf("write after failure = %v, want the same error", err2)
	}
	if err2 := w.Close(); !errors.Is(err2, errDiskFull) {
		t.Errorf("Close = %v, want the same error", err2)
	}
	if err2 := w.Scalar("a", 3, 3); err2 == nil {
		t.Error("write after Close succeeded")
	}

	// A big image fills the buffer: the write itself reports the error.
	w = newWriter(&failAfter{n: 10}, "img.tfevents", config{now: time.Now})
	blob := make([]byte, flushSize)
	if err := w.WriteEvent(Event{Values: []Value{{Tag: "blob", Kind: KindImage, Image: blob}}}); !errors.Is(err, errDiskFull) {
		t.Errorf("large write = %v, want disk full", err)
	}
	w.Close()
}

// TestBackgroundFlushError: an error met by the background flusher is
// returned by a later write.
func TestBackgroundFlushError(t *testing.T) {
	w := newWriter(&failAfter{n: 0}, "bg.tfevents", config{now: time.Now, interval: time.Millisecond})
	defer w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := w.Scalar("a", 1, 1)
		if errors.Is(err, errDiskFull) {
			return
		}
		if err != nil {
			t.Fatalf("write: %v, want the disk-full error", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the background flush error never surfaced")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackgroundFlush: events reach the file without Flush or Close.
func TestBackgroundFlush(t *testing.T) {
	w, err := create(t.TempDir(), config{now: time.Now, interval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Scalar("live", 1, 0.5); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, err := ReadFile(w.Path())
		if err != nil {
			t.Fatal(err)
		}
		if len(Scalars(events, "live")) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the scalar never reached the file")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentWrites runs writers, flushes and a Close race against the
// background flusher; run with -race.
func TestConcurrentWrites(t *testing.T) {
	w, err := create(t.TempDir(), config{now: time.Now, interval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 4, 200
	errs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			for i := range each {
				if err := w.Scalar(fmt.Sprintf("g%d", g), int64(i), float64(i)); err != nil {
					errs <- err
					return
				}
				if i%50 == 0 {
					w.Flush()
				}
			}
			errs <- nil
		}()
	}
	for range goroutines {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 2)
	go func() { done <- w.Close() }()
	go func() { done <- w.Close() }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	events, err := ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	for g := range goroutines {
		pts := Scalars(events, fmt.Sprintf("g%d", g))
		if len(pts) != each {
			t.Fatalf("g%d: %d points, want %d", g, len(pts), each)
		}
		for i, p := range pts {
			if p.Step != int64(i) {
				t.Fatalf("g%d: point %d has step %d: order lost", g, i, p.Step)
			}
		}
	}
}
