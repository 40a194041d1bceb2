package handover

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as a fake sibling: with HANDOVER_FAKE set it
// answers probe-gpu as the real one would and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("HANDOVER_FAKE") {
	case "device":
		os.Exit(ServeProbe(os.Stdout, "Fake GPU (compute 9.0)", nil))
	case "none":
		os.Exit(ServeProbe(os.Stdout, "", errors.New("no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE")))
	case "exec":
		os.Stdout.WriteString("exec'd with " + strings.Join(os.Args[1:], " ") + " " + EnvHandedOver + "=" + os.Getenv(EnvHandedOver) + "\n")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeSibling writes a script that runs this test binary as a fake sibling.
func fakeSibling(t *testing.T, mode string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mnist-cuda")
	script := "#!/bin/sh\nHANDOVER_FAKE=" + mode + " exec " + exe + " \"$@\"\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestProbe(t *testing.T) {
	dev, err := Probe(context.Background(), fakeSibling(t, "device"))
	if err != nil || dev != "Fake GPU (compute 9.0)" {
		t.Errorf("Probe with a device = %q, %v", dev, err)
	}
	_, err = Probe(context.Background(), fakeSibling(t, "none"))
	if err == nil || err.Error() != "no CUDA device: cuInit: CUDA_ERROR_NO_DEVICE" {
		t.Errorf("Probe without a device = %v, want the sibling's reason", err)
	}
	_, err = Probe(context.Background(), filepath.Join(t.TempDir(), "absent"))
	if !errors.Is(err, ErrNoSibling) {
		t.Errorf("Probe without a sibling = %v, want ErrNoSibling", err)
	}
}

// TestProbeWithoutDriverLibrary builds a program linked with libcuda.so.1,
// renames the library it needs in its dynamic section (libcuda.so.1 →
// libcudX.so.1) so that the loader cannot find it, exactly as on a machine
// without the NVIDIA driver, and checks that it cannot start and that
// Probe turns that into a reason to stay on the CPU.
func TestProbeWithoutDriverLibrary(t *testing.T) {
	cc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("no gcc")
	}
	if _, err := os.Stat("/usr/include/cuda.h"); err != nil {
		t.Skip("no cuda.h (make cuda-toolkit)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "probe.c")
	os.WriteFile(src, []byte("#include <cuda.h>\n#include <stdio.h>\nint main(void){ printf(\"cuda: %d\\n\", (int)cuInit(0)); return 0; }\n"), 0o644)
	bin := filepath.Join(dir, "mnist-cuda")
	if out, err := exec.Command(cc, src, "-o", bin, "-lcuda").CombinedOutput(); err != nil {
		t.Skipf("cannot link with libcuda here: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	old, repl := []byte("libcuda.so.1\x00"), []byte("libcudX.so.1\x00")
	if bytes.Count(b, old) != 1 {
		t.Fatalf("expected one %q in the binary", old)
	}
	if err := os.WriteFile(bin, bytes.Replace(b, old, repl, 1), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot open shared object file") {
		t.Fatalf("the patched binary started: %v\n%s", err, out)
	}
	_, err = Probe(context.Background(), bin)
	if err == nil || !strings.Contains(err.Error(), "cannot start: libcudX.so.1: cannot open shared object file") {
		t.Fatalf("Probe = %v, want the loader's reason", err)
	}
	t.Log(err)
}

func TestExec(t *testing.T) {
	// Exec replaces the process, so run it in a child: this test binary
	// with HANDOVER_EXEC set calls Exec on a fake sibling.
	if os.Getenv("HANDOVER_EXEC") != "" {
		err := Exec(os.Getenv("HANDOVER_EXEC"), []string{"mnist", "train", "--backend", "auto"})
		t.Fatal(err) // reached only on failure
	}
	sib := fakeSibling(t, "exec")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestExec$")
	cmd.Env = append(os.Environ(), "HANDOVER_EXEC="+sib)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "exec'd with train --backend auto "+EnvHandedOver+"=1") {
		t.Fatalf("Exec: %v\n%s", err, out)
	}
}
