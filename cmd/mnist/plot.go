package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/cmd/mnist/internal/plots"
	"github.com/mnist-go/mnist/nn/tfevents"
)

func plotCommand() *cli.Command {
	return &cli.Command{
		Name:      "plot",
		Usage:     "overlay the loss and accuracy curves of runs from their TensorBoard event files",
		ArgsUsage: "RUNDIR... (a directory of runs, such as runs, stands for every run in it)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "out", Value: "curves.png", Usage: "image to write (.png, .svg or .pdf)"},
			&cli.IntFlag{Name: "width", Value: 1200, Usage: "width in pixels"},
			&cli.IntFlag{Name: "height", Value: 480, Usage: "height in pixels"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usageErrorf("plot needs at least one run directory (written by mnist train --logdir)")
			}
			if err := plots.CheckSize(c.Int("width"), c.Int("height")); err != nil {
				return usageErrorf("--width %d --height %d: %v", c.Int("width"), c.Int("height"), err)
			}
			var dirs []string
			found := map[string]bool{} // runs found in a parent directory, rather than named
			for _, dir := range c.Args().Slice() {
				expanded, err := runDirs(dir)
				if err != nil {
					return err
				}
				for _, d := range expanded {
					found[d] = d != dir
				}
				dirs = append(dirs, expanded...)
			}
			var runs []plots.Run
			for _, dir := range dirs {
				run, err := plots.RunFromDir(dir)
				switch {
				case errors.Is(err, tfevents.ErrTruncated):
					// A run still being written ends in a partial record; so
					// does a file cut short. Either way the picture says so.
					fmt.Fprintf(c.App.ErrWriter, "mnist: warning: %s: %v: plotting the records before it, marked \"partial\" in the legend\n", dir, err)
					run.Name += " (partial)"
				case err != nil:
					return err
				}
				if len(run.TrainLoss)+len(run.TestLoss)+len(run.TestAccuracy) == 0 && found[dir] {
					fmt.Fprintf(c.App.ErrWriter, "mnist: %s: no epoch results yet (stopped before its first epoch ended?): left out\n", dir)
					continue
				}
				if len(run.TrainLoss)+len(run.TestLoss)+len(run.TestAccuracy) == 0 {
					return fmt.Errorf("%s: no epoch results in its event files (a run from mnist train --logdir, finished at least one epoch?)", dir)
				}
				runs = append(runs, run)
			}
			if len(runs) == 0 {
				return fmt.Errorf("no run in %s has finished an epoch: nothing to plot", strings.Join(c.Args().Slice(), " "))
			}
			out := c.String("out")
			if err := checkWritable(out); err != nil {
				return err
			}
			if err := plots.Curves(out, runs, c.Int("width"), c.Int("height")); err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "wrote %s (%s)\n", out, plural(len(runs), "run"))
			return nil
		},
	}
}

// runDirs is dir when it holds event files, else the subdirectories of dir
// that do (sorted): `mnist plot runs` draws every run in runs/. A directory
// with neither is returned as it is, for RunFromDir to explain.
func runDirs(dir string) ([]string, error) {
	if files, err := tfevents.EventFiles(dir); err != nil || len(files) > 0 {
		return []string{dir}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return []string{dir}, nil
	}
	var runs []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if files, err := tfevents.EventFiles(sub); err == nil && len(files) > 0 {
			runs = append(runs, sub)
		}
	}
	if len(runs) == 0 {
		return []string{dir}, nil
	}
	return runs, nil
}
