// Command mnist trains, evaluates and serves handwritten-digit recognisers on
// MNIST and any data set in MNIST's IDX format, on a CUDA GPU or in pure Go.
//
// Run `mnist help` for the commands. Exit status: 0 on success, 1 on a
// runtime error, 2 on a usage error (bad flags or arguments).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

func main() {
	ctx, stop := handleSignals()
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, args)
	if err == nil {
		return 0
	}
	if code := signalStatus(ctx); code != 0 && errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "mnist: interrupted\n")
		return code
	}
	var ue usageError
	var ee exitError
	switch {
	case errors.As(err, &ee):
		if ee.err != nil {
			fmt.Fprintf(stderr, "mnist: %v\n", ee.err)
		}
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "mnist: %v\n", err)
		return 2
	case isFlagError(err):
		fmt.Fprintf(stderr, "mnist: %v (run `mnist help` for usage)\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "mnist: %v\n", err)
		return 1
	}
}

// usageError marks a mistake in the command line: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitError ends the program with a chosen status (after printing err, when set).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// isFlagError recognises the flag package's parse errors that reach us
// without going through OnUsageError (for example from the root command).
func isFlagError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") ||
		strings.HasPrefix(msg, "invalid value") ||
		strings.HasPrefix(msg, "flag needs an argument")
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "mnist",
		Usage: "train, evaluate and serve handwritten-digit recognisers (MNIST and any IDX data set)",
		Description: "Trains the PyTorch tutorial's MLP (784-64-32-10) and others on a CUDA GPU when there is one\n" +
			"and in pure Go when there is not. Start with `mnist data`, then `mnist train`.",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "data-dir",
				Usage:   "directory holding the four IDX files (train-images-idx3-ubyte.gz, …)",
				EnvVars: []string{"MNIST_DATA"},
				Value:   "./data",
			},
		},
		Commands: []*cli.Command{
			dataCommand(),
			infoCommand(),
			showCommand(),
			trainCommand(),
			evalCommand(),
			predictCommand(),
			summaryCommand(),
			plotCommand(),
			benchCommand(),
			serveCommand(),
			probeGPUCommand(),
		},
		// Errors are printed and mapped to exit codes by run, never by the library.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usageErrorf("unknown command %q: run `mnist help` for the list", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		HideVersion: true,
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
	}
	return app
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "mnist"
	if c.Command != nil && c.Command.Name != "" {
		name = "mnist " + c.Command.Name
	}
	return usageErrorf("%v (run `%s --help` for usage)", err, name)
}

// noArgs rejects positional arguments for commands that take none.
func noArgs(c *cli.Context) error {
	if c.NArg() > 0 {
		return usageErrorf("%s takes no arguments, got %q", c.Command.Name, c.Args().Slice())
	}
	return nil
}
