package tfevents

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ReadFile reads every event in the file at path. On damage it returns the
// events of every whole record before it together with a *RecordError that
// names the file, the record and its byte offset.
func ReadFile(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tfevents: %w", err)
	}
	defer f.Close()
	return readAll(NewReader(f, path))
}

// ReadAll reads every event from r (name is used in errors), like ReadFile.
func ReadAll(r io.Reader, name string) ([]Event, error) {
	return readAll(NewReader(r, name))
}

func readAll(r *Reader) ([]Event, error) {
	var events []Event
	for {
		e, err := r.Next()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, e)
	}
}

// IsEventFile reports whether name is an event file by TensorBoard's rule:
// its base name contains "tfevents".
func IsEventFile(name string) bool {
	return strings.Contains(filepath.Base(name), "tfevents")
}

// EventFiles lists the event files directly in dir, sorted by name (which
// for names this package writes is the order they were created).
func EventFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("tfevents: %w", err)
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && IsEventFile(e.Name()) {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(files)
	return files, nil
}

// ReadDir reads the events of every event file in dir, one run, file after
// file in name order. A damaged file contributes its whole records and an
// error, and the other files are still read; the errors are joined. A
// directory without event files is an error.
func ReadDir(dir string) ([]Event, error) {
	files, err := EventFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("tfevents: no event files (events.out.tfevents.*) in %s; is it a run directory written by `mnist train --logdir`?", dir)
	}
	var all []Event
	var errs []error
	for _, f := range files {
		events, err := ReadFile(f)
		all = append(all, events...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}
