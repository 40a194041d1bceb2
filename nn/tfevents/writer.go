package tfevents

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// DefaultFlushInterval is how often a Writer pushes buffered events to the
// file: often enough to watch a run live in TensorBoard, rarely enough to
// cost nothing.
const DefaultFlushInterval = 2 * time.Second

// flushSize is the amount of buffered records that triggers a flush
// without waiting for the interval.
const flushSize = 256 << 10

// config is what a Writer takes from its environment; tests fix it.
type config struct {
	now      func() time.Time // wall times and the file name's Unix time; called with the lock held
	interval time.Duration    // background flushes; <= 0 leaves Flush and Close
	host     string           // the file name's host part; "" is os.Hostname
}

// Writer appends events to one event file. It is safe for concurrent use.
//
// Events are buffered in memory and written to the file, whole records at a
// time, every DefaultFlushInterval by a background goroutine, when 256 KiB
// are waiting, by Flush, and by Close. Close it: that stops the goroutine
// and writes what is left. The first error writing the file (a full disk,
// say) is kept: it is returned by the call that met it, or by the next call
// after a background flush met it, and by every call after that.
type Writer struct {
	mu      sync.Mutex
	path    string
	file    io.Writer // *os.File, or a test double
	buf     []byte    // whole records not yet written to file
	scratch []byte    // Scalars' event encoding, reused
	now     func() time.Time
	err     error // first write error; sticky
	closed  bool
	stop    chan struct{} // closed by Close to end the flusher
	done    chan struct{} // closed by the flusher when it ends
	once    sync.Once     // closes stop
}

// NewWriter creates dir if needed and a new event file in it named
// events.out.tfevents.<unix time>.<host>, and writes the file_version event.
// Should a file of that name exist, a numeric suffix is added.
func NewWriter(dir string) (*Writer, error) {
	return create(dir, config{now: time.Now, interval: DefaultFlushInterval})
}

// create is NewWriter with cfg.
func create(dir string, cfg config) (*Writer, error) {
	if cfg.host == "" {
		cfg.host, _ = os.Hostname()
	}
	host := sanitizeHost(cfg.host)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tfevents: create log directory: %w", err)
	}
	base := filepath.Join(dir, fmt.Sprintf("events.out.tfevents.%d.%s", cfg.now().Unix(), host))
	path := base
	var f *os.File
	for i := 1; ; i++ {
		var err error
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return nil, fmt.Errorf("tfevents: create event file: %w", err)
		}
		path = fmt.Sprintf("%s.%d", base, i)
	}
	w := newWriter(f, path, cfg)
	err := w.WriteEvent(Event{FileVersion: FileVersion})
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		w.Close()
		os.Remove(path)
		return nil, err
	}
	return w, nil
}

// sanitizeHost keeps a host name from adding path separators or spaces to
// the file name.
func sanitizeHost(h string) string {
	h = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' || r < 0x20 {
			return '_'
		}
		return r
	}, h)
	if h == "" {
		return "localhost"
	}
	return h
}

// newWriter wraps an open file (or any writer, for tests) and starts the
// background flusher.
func newWriter(file io.Writer, path string, cfg config) *Writer {
	w := &Writer{
		path: path,
		file: file,
		now:  cfg.now,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if cfg.interval > 0 {
		go w.flushEvery(cfg.interval)
	} else {
		close(w.done)
	}
	return w
}

func (w *Writer) flushEvery(d time.Duration) {
	defer close(w.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Flush() // an error is kept in w.err for the next call
		}
	}
}

// Path returns the event file's path.
func (w *Writer) Path() string { return w.path }

// WriteEvent appends e as one record. A zero WallTime is set from the
// writer's clock.
func (w *Writer) WriteEvent(e Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.refusesLocked(); err != nil {
		return err
	}
	if e.WallTime == 0 {
		e.WallTime = float64(w.now().UnixNano()) / 1e9
	}
	data, err := MarshalEvent(e)
	if err != nil {
		return err
	}
	w.buf = appendRecord(w.buf, data)
	if len(w.buf) >= flushSize {
		return w.flushLocked()
	}
	return nil
}

// refusesLocked returns why w takes no more events (it is closed, or a
// write failed before), or nil; w.mu is held.
func (w *Writer) refusesLocked() error {
	if w.closed {
		return fmt.Errorf("tfevents: write %s: writer is closed", w.path)
	}
	return w.err
}

// Scalar writes one scalar value. TensorBoard stores it as float32.
func (w *Writer) Scalar(tag string, step int64, v float64) error {
	return w.Scalars(tag, step, []float32{float32(v)})
}

// Scalars writes values[i] as the scalar tag at step first+i, all with one
// wall time: for values that reach the host together (the cuda backend
// reads a whole epoch's losses back at once), with one lock and no
// allocation. The records are WriteEvent's for the same events, encoded
// without building them (appendScalarEvent).
func (w *Writer) Scalars(tag string, first int64, values []float32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.refusesLocked(); err != nil {
		return err
	}
	wall := float64(w.now().UnixNano()) / 1e9
	for i, v := range values {
		w.scratch = appendScalarEvent(w.scratch[:0], wall, first+int64(i), tag, v)
		w.buf = appendRecord(w.buf, w.scratch)
		if len(w.buf) >= flushSize {
			if err := w.flushLocked(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Image writes img as a PNG image summary.
func (w *Writer) Image(tag string, step int64, img image.Image) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("tfevents: image %q: %w", tag, err)
	}
	b := img.Bounds()
	v := Value{Tag: tag, Kind: KindImage, Image: buf.Bytes(),
		Width: b.Dx(), Height: b.Dy(), Colorspace: colorspace(img)}
	return w.WriteEvent(Event{Step: step, Values: []Value{v}})
}

// colorspace is the Summary.Image colorspace hint for img.
func colorspace(img image.Image) int {
	switch img.ColorModel() {
	case color.GrayModel, color.Gray16Model:
		return ColorspaceGray
	}
	if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
		return ColorspaceRGB
	}
	return ColorspaceRGBA
}

// Text writes markdown as a text summary (TensorBoard's Text tab renders
// markdown, tables included).
func (w *Writer) Text(tag string, step int64, markdown string) error {
	return w.WriteEvent(Event{Step: step, Values: []Value{{Tag: tag, Kind: KindText, Text: markdown}}})
}

// Flush writes buffered events to the file, where a reader (TensorBoard)
// can see them.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if w.err != nil || w.closed || len(w.buf) == 0 {
		return w.err
	}
	// One write of whole records: a reader of the growing file rarely sees
	// a partial record at its end.
	if _, err := w.file.Write(w.buf); err != nil {
		// An *os.File's error already names the file.
		var pe *fs.PathError
		if !errors.As(err, &pe) {
			err = fmt.Errorf("write %s: %w", w.path, err)
		}
		w.err = fmt.Errorf("tfevents: %w; later events are lost", err)
	}
	w.buf = w.buf[:0]
	return w.err
}

// Close stops the background flusher, flushes, syncs and closes the file.
// It returns the first error the writer met, if any. Closing twice is
// harmless.
func (w *Writer) Close() error {
	// The flusher takes the lock, so stop it before taking the lock.
	w.once.Do(func() { close(w.stop) })
	<-w.done

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	err := w.flushLocked()
	w.closed = true
	if s, ok := w.file.(interface{ Sync() error }); ok && err == nil {
		if serr := s.Sync(); serr != nil {
			err = fmt.Errorf("tfevents: sync %s: %w", w.path, serr)
		}
	}
	if c, ok := w.file.(io.Closer); ok {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("tfevents: close %s: %w", w.path, cerr)
		}
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}
