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
	err := app.RunContext(ctx, normalizeArgs(app, args))
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
		Flags:     []cli.Flag{dataDirFlag()},
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
				return unknownCommand(c.App, c.Args().First())
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

// dataDirFlag is --data-dir, accepted before the command and by every
// command that reads data (normalizeArgs routes it).
func dataDirFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "data-dir",
		Usage:   "directory holding the four IDX files (train-images-idx3-ubyte.gz, …); mnist data fetches them",
		EnvVars: []string{"MNIST_DATA"},
		Value:   "./data",
	}
}

// unknownCommand is the error for a command that does not exist, with the
// closest one when the word looks like a typo of it.
func unknownCommand(app *cli.App, name string) error {
	if s := suggest(name, commandNames(app)); s != "" {
		return usageErrorf("unknown command %q: did you mean `mnist %s`? (run `mnist help` for the list)", name, s)
	}
	return usageErrorf("unknown command %q: run `mnist help` for the list", name)
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	name := "mnist"
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		name = "mnist " + c.Command.Name
		flags = c.Command.Flags
	}
	// "flag provided but not defined: -lrr": suggest the closest flag.
	const undefined = "flag provided but not defined: -"
	if msg := err.Error(); strings.HasPrefix(msg, undefined) {
		given := strings.TrimLeft(strings.TrimPrefix(msg, undefined), "-")
		if s := suggest(given, flagNames(flags)); s != "" {
			return usageErrorf("%v: did you mean --%s? (run `%s --help` for usage)", err, s, name)
		}
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
