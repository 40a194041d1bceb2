//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mnist-go/mnist/nn"
)

// mountTmpfs mounts a tmpfs with the given options (e.g. "size=256k", "ro")
// on dir and unmounts it when the test ends. It skips the test, saying why,
// where mounting is not permitted (not root, or a container without
// CAP_SYS_ADMIN).
func mountTmpfs(t *testing.T, dir, options string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, options); err != nil {
		t.Skipf("cannot mount a tmpfs (%s) on %s: %v", options, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// readOnlyDir makes dir refuse new files: chmod 0555 for an ordinary user,
// a read-only tmpfs mounted on it for root (whom permission bits do not stop).
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		return
	}
	mountTmpfs(t, dir, "ro,size=64k")
}

// TestDiskFull trains with the output on a tmpfs too small for what must be
// written: the write error must be reported (exit status 1, "no space left
// on device", naming the file) and nothing may be left behind, neither a
// truncated file at the final name nor a temporary file.
func TestDiskFull(t *testing.T) {
	binary(t)
	data := synthetic(t, 300, 100, 28, 28, 1)
	for _, tc := range []struct {
		name     string
		size     string // of the tmpfs
		every    string // --checkpoint-every
		failedOn string // the file whose write must fail
	}{
		// A checkpoint of the 784-64-32-10 MLP with momentum is about 414
		// KiB, the model alone about 207 KiB.
		{"checkpoint", "256k", "1", "model.ckpt.safetensors"},
		{"model", "64k", "0", "model.safetensors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("mounting a small tmpfs needs root")
			}
			dir := filepath.Join(t.TempDir(), "full")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			mountTmpfs(t, dir, "size="+tc.size)
			r := bin(t, t.TempDir(), "--data-dir", data, "train", "--backend", "cpu", "--epochs", "2", "--quiet",
				"--checkpoint-every", tc.every, "--out", filepath.Join(dir, "model.safetensors"), "--logdir", "none")
			if r.code != 1 {
				t.Errorf("exit status %d, want 1\n%v", r.code, r)
			}
			for _, w := range []string{"no space left on device", filepath.Join(dir, tc.failedOn)} {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, r.stderr)
				}
			}
			if names := listDir(t, dir); len(names) != 0 {
				t.Errorf("files left on the full disk: %q", names)
			}
		})
	}
}

// TestRunLogDiskFull puts only the run log on a full disk: training must
// still save the model (logging never costs the run its result), then
// report the log's write error with exit status 1.
func TestRunLogDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	data := synthetic(t, 300, 100, 28, 28, 1)
	full := filepath.Join(t.TempDir(), "full")
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, full, "size=16k")
	out := filepath.Join(t.TempDir(), "model.safetensors")
	r := inproc(t.Context(), "--data-dir", data, "train", "--backend", "cpu", "--epochs", "2", "--quiet",
		"--out", out, "--logdir", filepath.Join(full, "run"))
	if r.code != 1 {
		t.Errorf("exit status %d, want 1\n%v", r.code, r)
	}
	if !strings.Contains(r.stderr, "no space left on device") || !strings.Contains(r.stderr, "run log") ||
		!strings.Contains(r.stderr, "the model was saved to "+out) {
		t.Errorf("stderr does not report the run log's write error:\n%s", r.stderr)
	}
	if _, _, err := nn.LoadModel(out); err != nil {
		t.Errorf("the model was not saved although training finished: %v\n%v", err, r)
	}
}
