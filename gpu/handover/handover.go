// Package handover lets a pure-Go mnist binary (built without cgo, so it
// starts everywhere) use the GPU through a CUDA-enabled sibling binary
// (mnist-cuda, built with -tags cuda and linked with libcuda.so.1, so it
// cannot even start where the NVIDIA driver is missing).
//
// For --backend auto or cuda, the pure-Go binary runs `<sibling> probe-gpu`
// as a child (cheap: a few hundred milliseconds). If the dynamic loader
// cannot start it, or it reports no usable device, the pure-Go binary stays
// on the CPU with that one-line reason; otherwise it replaces itself with
// the sibling (Exec), same arguments, so the user sees one process.
//
// Wiring (cmd/mnist): the pure-Go build calls Probe(ctx, SiblingPath())
// before opening a backend and Exec on success, unless
// os.Getenv(EnvHandedOver) is set; the cuda build implements the hidden
// command `probe-gpu` as os.Exit(ServeProbe(os.Stdout, info.String(), err))
// with info, err := gpu.Probe().
package handover

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ProbeCommand is the sibling's hidden subcommand that answers Probe.
const ProbeCommand = "probe-gpu"

// EnvHandedOver is set in the sibling's environment by Exec, so that it
// never hands over again.
const EnvHandedOver = "MNIST_HANDED_OVER"

// SiblingSuffix names the sibling: mnist → mnist-cuda, next to it.
const SiblingSuffix = "-cuda"

// ProbeTimeout bounds a probe: creating a CUDA context takes well under it.
const ProbeTimeout = 20 * time.Second

// ErrNoSibling is returned (wrapped) by Probe when there is no sibling binary.
var ErrNoSibling = errors.New("no CUDA-enabled sibling binary")

// SiblingPath returns the path of the running executable's sibling.
func SiblingPath() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running executable: %w", err)
	}
	return exe + SiblingSuffix, nil
}

// ServeProbe is the body of the sibling's probe-gpu command: it prints one
// line, "cuda: <device>" or "none: <reason>", and returns the exit status
// (0 with a device, 3 without).
func ServeProbe(w io.Writer, device string, err error) int {
	if err != nil {
		fmt.Fprintf(w, "none: %s\n", oneLine(err.Error()))
		return 3
	}
	fmt.Fprintf(w, "cuda: %s\n", oneLine(device))
	return 0
}

// Probe runs `sibling probe-gpu` and returns the device it found, or an
// error saying why CUDA cannot run here: no sibling (ErrNoSibling), a
// sibling the dynamic loader cannot start (the NVIDIA driver's libcuda.so.1
// is missing), or no usable device (the driver's reason).
func Probe(ctx context.Context, sibling string) (string, error) {
	if _, err := os.Stat(sibling); err != nil {
		return "", fmt.Errorf("%w: %s", ErrNoSibling, sibling)
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, sibling, ProbeCommand)
	cmd.Env = append(os.Environ(), EnvHandedOver+"=probe")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	line, _ := bufio.NewReader(&stdout).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "cuda: ") && runErr == nil:
		return strings.TrimPrefix(line, "cuda: "), nil
	case strings.HasPrefix(line, "none: "):
		return "", errors.New(strings.TrimPrefix(line, "none: "))
	case strings.Contains(stderr.String(), "error while loading shared libraries"):
		return "", fmt.Errorf("%s cannot start: %s (is the NVIDIA driver installed?)",
			filepath.Base(sibling), loaderReason(stderr.String()))
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s %s did not answer within %v", filepath.Base(sibling), ProbeCommand, ProbeTimeout)
	}
	return "", fmt.Errorf("%s %s failed (%v): %s", filepath.Base(sibling), ProbeCommand, runErr, oneLine(stderr.String()+stdout.String()))
}

// Exec replaces the running process with sibling, with the same arguments
// (args[0] included) and environment plus EnvHandedOver=1. It returns only
// on failure.
func Exec(sibling string, args []string) error {
	env := append(os.Environ(), EnvHandedOver+"=1")
	if len(args) == 0 {
		args = []string{sibling}
	}
	return fmt.Errorf("hand over to %s: %w", sibling, syscall.Exec(sibling, args, env))
}

// loaderReason keeps the useful part of ld.so's message, e.g.
// "libcuda.so.1: cannot open shared object file: No such file or directory".
func loaderReason(stderr string) string {
	s := oneLine(stderr)
	if i := strings.Index(s, "error while loading shared libraries: "); i >= 0 {
		return s[i+len("error while loading shared libraries: "):]
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
