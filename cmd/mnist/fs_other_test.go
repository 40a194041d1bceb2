//go:build !linux

package main

import (
	"os"
	"testing"
)

// readOnlyDir makes dir refuse new files: chmod 0555, which does not stop root.
func readOnlyDir(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Skip("running as root, and mounting a read-only file system is only done on Linux")
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
}
