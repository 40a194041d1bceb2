// Package atomicfile writes files so that readers only ever see the old
// content or the complete new content: never a partial file, even when the
// process is killed or the disk fills up mid-write.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// pending holds the temporary files of writes in progress, so that a
// process that must exit at once (a second Ctrl-C) can remove them first;
// exiting, set by RemovePending, makes later writes fail before they
// create one. A temporary file is created and registered under mu, so none
// exists unregistered.
var (
	mu      sync.Mutex
	pending = map[string]struct{}{}
	exiting bool
)

// ErrExiting is wrapped by the error of a Write that starts after
// RemovePending.
var ErrExiting = errors.New("the process is exiting")

// RemovePending deletes the temporary files of every write in progress and
// returns how many there were; writes started after it fail with
// ErrExiting. Call it only just before the process exits: the writes in
// progress then fail too. Files at their final paths are never touched.
func RemovePending() int {
	mu.Lock()
	defer mu.Unlock()
	exiting = true
	for name := range pending {
		os.Remove(name)
	}
	return len(pending)
}

// createTemp creates and registers the temporary file of a write of base
// in dir, unless the process is exiting.
func createTemp(dir, base string) (*os.File, error) {
	mu.Lock()
	defer mu.Unlock()
	if exiting {
		return nil, ErrExiting
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err == nil {
		pending[f.Name()] = struct{}{}
	}
	return f, err
}

// forget unregisters a temporary file: renamed, or removed.
func forget(name string) {
	mu.Lock()
	defer mu.Unlock()
	delete(pending, name)
}

// Write creates or replaces path with what write produces. It writes to a
// temporary file in the same directory (so the rename cannot cross file
// systems), flushes and fsyncs it, renames it over path and fsyncs the
// directory. On any error, the write error included, the temporary file is
// removed and an existing file at path is left untouched.
func Write(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := createTemp(dir, base)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer forget(f.Name())
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync() // best effort: makes the rename itself durable
		d.Close()
	}
	return nil
}

// WriteBytes is Write for content already in memory.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// RemoveStale deletes temporary files that Write left beside path in a
// process that was killed before it could clean up (SIGKILL, power loss),
// and returns how many it removed. Call it only where no other process may
// be writing path at the same time: a program that owns path, at start.
func RemoveStale(path string) (int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	matches, err := filepath.Glob(filepath.Join(dir, "."+escapeGlob(base)+".tmp-*"))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			n++
		}
	}
	return n, nil
}

// escapeGlob quotes the characters filepath.Match treats specially.
func escapeGlob(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, s[i])
	}
	return string(b)
}
