package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/gpu"
	"github.com/mnist-go/mnist/gpu/handover"
	"github.com/mnist-go/mnist/nn"

	// The CPU backend registers itself with nn (the gpu package, imported
	// above, registers "cuda" in both builds).
	_ "github.com/mnist-go/mnist/cpu"
)

func backendFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "backend", Value: "auto", EnvVars: []string{"MNIST_BACKEND"},
			Usage: "auto (CUDA when built with it and a GPU answers, else cpu), cpu or cuda"},
	}
}

// handOverToGPU implements the pure-Go half of choosing CUDA at run time.
//
// The pure-Go binary (bin/mnist, no cgo) starts everywhere; the CUDA build
// (bin/mnist-cuda, -tags cuda) links libcuda.so.1 and cannot even start
// where the NVIDIA driver is missing. So for --backend auto or cuda the
// pure-Go binary asks its sibling to probe for a GPU in a child process, and
// replaces itself with the sibling (same arguments) when one answers. When
// none does, it returns the reason, and the caller runs on the CPU (auto) or
// exits 1 (cuda). It returns nil when there is nothing to decide: a CUDA
// build, another backend, or a process that was itself handed over.
func handOverToGPU(c *cli.Context) error {
	name := c.String("backend")
	if gpu.Available || (name != "auto" && name != "cuda") || os.Getenv(handover.EnvHandedOver) != "" {
		return nil
	}
	sibling, err := handover.SiblingPath()
	if err != nil {
		return err
	}
	if _, err := handover.Probe(c.Context, sibling); err != nil {
		if errors.Is(err, handover.ErrNoSibling) {
			return fmt.Errorf("%w (and no %s beside it)", gpu.ErrNoCUDASupport, filepath.Base(sibling))
		}
		if strings.HasPrefix(err.Error(), gpu.ErrNoDevice.Error()) {
			return err // the sibling's reason already says so
		}
		return fmt.Errorf("%v: %w", gpu.ErrNoDevice, err)
	}
	return handover.Exec(sibling, os.Args)
}

// openBackend opens the backend the --backend flag names and returns the
// line that says which one runs and why. Call it at the start of a command,
// before loading data: it may hand the whole process over to the CUDA build.
func openBackend(c *cli.Context) (nn.Backend, string, error) {
	name := c.String("backend")
	if reason := handOverToGPU(c); reason != nil {
		if name == "cuda" {
			return nil, "", fmt.Errorf("backend cuda: %w", reason)
		}
		b, _, err := nn.Open("cpu")
		if err != nil {
			return nil, "", err
		}
		return b, fmt.Sprintf("cpu: %s (auto: cuda unavailable: %v)", b.Device(), reason), nil
	}
	b, why, err := nn.Open(name)
	if errors.Is(err, nn.ErrUnknownBackend) {
		return nil, "", usageError{err}
	}
	return b, why, err
}

// probeGPUCommand answers handover.Probe in the CUDA build: one line, "cuda:
// <device>" or "none: <reason>". Hidden: it is the two binaries' protocol.
func probeGPUCommand() *cli.Command {
	return &cli.Command{
		Name:   handover.ProbeCommand,
		Hidden: true,
		Action: func(c *cli.Context) error {
			info, err := gpu.Probe()
			if code := handover.ServeProbe(c.App.Writer, info.String(), err); code != 0 {
				return exitError{code: code}
			}
			return nil
		},
	}
}

// checkWritable makes sure a file can be created at path before hours are
// spent computing its content: the directory exists and accepts files.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cannot write %s: directory %s does not exist (create it or choose another path)", path, dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a directory", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("cannot write %s: it is a directory (give a file name, e.g. %s)", path, filepath.Join(path, "model.safetensors"))
	}
	f, err := os.CreateTemp(dir, ".mnist-write-test-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %v", path, strings.TrimPrefix(err.Error(), "open "))
	}
	f.Close()
	return os.Remove(f.Name())
}
