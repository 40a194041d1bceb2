package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := WriteBytes(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("half of the new content"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want the writer's error", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "old" {
		t.Errorf("a failed write changed the file to %q", got)
	}
	if names := list(t, dir); len(names) != 1 {
		t.Errorf("a failed write left %q", names)
	}
	if err := WriteBytes(path, []byte("new")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "new" {
		t.Errorf("file holds %q, want new", got)
	}
}

func TestRemovePendingAndStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m[1].ckpt.safetensors")
	entered, release := make(chan struct{}), make(chan struct{})
	done := make(chan error)
	go func() {
		done <- Write(path, func(w io.Writer) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	if n := RemovePending(); n != 1 {
		t.Errorf("RemovePending removed %d files, want 1", n)
	}
	close(release)
	if err := <-done; err == nil {
		t.Error("a write whose temporary file was removed succeeded")
	}
	// A write that starts after RemovePending, while the process is on
	// its way out, creates nothing (it would outlive the exit).
	if err := WriteBytes(path, []byte("late")); !errors.Is(err, ErrExiting) {
		t.Errorf("a write after RemovePending: %v, want ErrExiting", err)
	}
	if names := list(t, dir); len(names) != 0 {
		t.Errorf("left %q", names)
	}
	mu.Lock()
	exiting = false // this process goes on
	mu.Unlock()

	// What a killed process leaves behind, and a file that only looks similar.
	for _, name := range []string{".m[1].ckpt.safetensors.tmp-123", ".m[1].ckpt.safetensors.tmp-9", ".other.tmp-1", "m[1].ckpt.safetensors"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	n, err := RemoveStale(path)
	if err != nil || n != 2 {
		t.Errorf("RemoveStale: %d, %v; want 2 removed", n, err)
	}
	if names := list(t, dir); len(names) != 2 {
		t.Errorf("left %q, want .other.tmp-1 and the file itself", names)
	}
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
