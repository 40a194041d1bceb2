package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/nn"
)

func backendFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "backend", Value: "auto", EnvVars: []string{"MNIST_BACKEND"},
			Usage: "auto (CUDA when built with it and a GPU answers, else cpu), cpu or cuda"},
	}
}

// openBackend opens the backend the --backend flag names and returns the
// line that says which one runs and why.
func openBackend(c *cli.Context) (nn.Backend, string, error) {
	name := c.String("backend")
	b, why, err := nn.Open(name)
	if errors.Is(err, nn.ErrUnknownBackend) {
		return nil, "", usageError{err}
	}
	return b, why, err
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
