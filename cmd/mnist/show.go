package main

import (
	"fmt"
	"image/png"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/mnist-go/mnist/cmd/mnist/internal/plots"
	"github.com/mnist-go/mnist/internal/atomicfile"
	"github.com/mnist-go/mnist/mnist"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Usage: "draw digits with their labels: a PNG grid (--out) and a terminal preview",
		Flags: []cli.Flag{dataDirFlag(),
			&cli.StringFlag{Name: "split", Value: "train", Usage: "train or test"},
			&cli.IntFlag{Name: "n", Value: 64, Usage: "number of digits"},
			&cli.BoolFlag{Name: "shuffle", Usage: "pick digits at random (see --seed) instead of the first n"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of --shuffle"},
			&cli.StringFlag{Name: "out", Usage: "write a PNG grid of the digits to this file (with --n 1, the digit alone, which mnist predict reads)"},
			&cli.BoolFlag{Name: "ascii", Usage: "print the terminal preview (the default when --out is not given)"},
		},
		Action: showAction,
	}
}

func showAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	split, err := mnist.ParseSplit(c.String("split"))
	if err != nil {
		return usageError{err}
	}
	n := c.Int("n")
	if n < 1 {
		return usageErrorf("--n %d: must be at least 1", n)
	}
	ds, err := mnist.Load(c.String("data-dir"), split)
	if err != nil {
		return err
	}
	n = min(n, ds.Len())
	order := make([]int32, ds.Len())
	if c.Bool("shuffle") {
		mnist.Permutation(order, c.Uint64("seed"), 0)
	} else {
		for i := range order {
			order[i] = int32(i)
		}
	}
	images := make([][]uint8, n)
	labels := make([]string, n)
	for i, idx := range order[:n] {
		images[i] = ds.Image(int(idx))
		labels[i] = fmt.Sprintf("%d", ds.Labels[idx])
	}
	out := c.String("out")
	if out != "" {
		cols := int(math.Ceil(math.Sqrt(float64(n))))
		opts := plots.GridOptions{Width: ds.Cols, Scale: 2, Gap: 4, Labels: labels}
		if n == 1 {
			// One digit is drawn alone, without a caption, as MNIST drew
			// it: an image that `mnist predict` reads like any other.
			opts = plots.GridOptions{Width: ds.Cols, Scale: 4}
		}
		grid, err := plots.Grid(images, 0, cols, opts)
		if err != nil {
			return err
		}
		if err := checkWritable(out); err != nil {
			return err
		}
		if err := atomicfile.Write(out, func(w io.Writer) error { return png.Encode(w, grid) }); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "wrote %s to %s\n", plural(n, string(split)+" digit"), out)
	}
	if out == "" || c.Bool("ascii") {
		printDigits(c.App.Writer, images, labels, ds.Cols, digitsPerRow(terminalWidth(c.App.Writer), ds.Cols))
	}
	return nil
}

// digitsPerRow is how many digits of cols pixels (one column each, plus a
// space) fit in a terminal width columns wide: at most 8, at least 1.
func digitsPerRow(width, cols int) int {
	return max(1, min(8, (width+1)/(cols+1)))
}

// terminalWidth is the width of the terminal w writes to; else $COLUMNS;
// else 80.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if width, _, err := term.GetSize(int(f.Fd())); err == nil && width > 0 {
			return width
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}

// printDigits draws digits side by side in a terminal, perRow at a time. Each
// character cell holds two pixel rows (upper and lower half blocks), so a
// 28×28 digit takes 28 columns and 14 lines; a pixel counts as ink from 50%.
func printDigits(w io.Writer, images [][]uint8, labels []string, cols, perRow int) {
	const ink = 128
	for start := 0; start < len(images); start += perRow {
		group := images[start:min(start+perRow, len(images))]
		var line strings.Builder
		for i := range group {
			fmt.Fprintf(&line, "%-*s ", cols, labels[start+i])
		}
		fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
		rows := len(group[0]) / cols
		for y := 0; y < rows; y += 2 {
			line.Reset()
			for _, img := range group {
				for x := 0; x < cols; x++ {
					top := img[y*cols+x] >= ink
					bottom := y+1 < rows && img[(y+1)*cols+x] >= ink
					switch {
					case top && bottom:
						line.WriteRune('█')
					case top:
						line.WriteRune('▀')
					case bottom:
						line.WriteRune('▄')
					default:
						line.WriteByte(' ')
					}
				}
				line.WriteByte(' ')
			}
			fmt.Fprintln(w, strings.TrimRight(line.String(), " "))
		}
	}
}
