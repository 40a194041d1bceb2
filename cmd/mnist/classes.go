package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

// labelBaseFlag is --label-base, for the commands that read labels.
func labelBaseFlag() cli.Flag {
	return &cli.StringFlag{Name: "label-base", Value: "auto",
		Usage: "the label of the first class: auto (1 when no label is 0, as in EMNIST Letters, else 0) or a number; labels are renumbered from 0"}
}

// classesFlag is --classes, a file naming the classes.
func classesFlag() cli.Flag {
	return &cli.StringFlag{Name: "classes", Usage: "text file naming the classes, one name a line, class 0 (the first label) first"}
}

// classSetup is how a data set's labels become classes: the number
// subtracted from every label, the class count and the names.
type classSetup struct {
	base  int
	count int
	names []string // empty, or one per class
}

// setupClasses numbers the labels of sets from 0 (--label-base, or from
// the labels themselves: a data set with no label 0 is numbered from 1,
// and log is told so), reads the names of --classes, and counts the
// classes: the largest label plus one, or the names' count when there are
// names (which must then cover every label).
func setupClasses(c *cli.Context, log io.Writer, sets ...*mnist.Dataset) (classSetup, error) {
	var cs classSetup
	base, err := labelBase(c, log, sets...)
	if err != nil {
		return cs, err
	}
	for _, d := range sets {
		if err := d.ShiftLabels(base); err != nil {
			return cs, fmt.Errorf("%w (--label-base %d)", err, base)
		}
		cs.count = max(cs.count, d.Classes)
	}
	cs.base = base
	if path := c.String("classes"); path != "" {
		if cs.names, err = readClassNames(path); err != nil {
			return cs, err
		}
		if len(cs.names) < cs.count {
			return cs, fmt.Errorf("%s names %d classes but the labels go up to %d (class %d): give one name per class, class 0 first",
				path, len(cs.names), cs.count-1+base, cs.count-1)
		}
		cs.count = len(cs.names)
	}
	return cs, nil
}

// labelBase reads --label-base, or for auto detects a data set numbered
// from 1 and says so.
func labelBase(c *cli.Context, log io.Writer, sets ...*mnist.Dataset) (int, error) {
	v := c.String("label-base")
	if v != "auto" && v != "" {
		base, err := strconv.Atoi(v)
		if err != nil || base < 0 || base > 255 {
			return 0, usageErrorf("--label-base %q: want auto or a label from 0 to 255", v)
		}
		return base, nil
	}
	if mnist.LabelBase(sets...) != 1 {
		return 0, nil
	}
	top := 0
	for _, d := range sets {
		top = max(top, d.Classes-1)
	}
	if log != nil {
		fmt.Fprintf(log, "labels run from 1 to %d, none is 0: numbering the classes from 0 (class 0 is label 1); --label-base 0 keeps the labels as they are\n", top)
	}
	return 1, nil
}

// maxClassFileBytes bounds a --classes file: 256 names of 64 bytes and
// their line ends, with room to spare.
const maxClassFileBytes = 64 << 10

// readClassNames reads a --classes file: one name a line, surrounding
// spaces and trailing empty lines dropped.
func readClassNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--classes: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxClassFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--classes %s: %w", path, err)
	}
	if len(data) > maxClassFileBytes {
		return nil, fmt.Errorf("--classes %s: larger than %d KiB; it should hold one class name a line", path, maxClassFileBytes>>10)
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		names = append(names, strings.TrimSpace(sc.Text()))
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	if len(names) < 2 || len(names) > mnist.MaxClasses {
		return nil, fmt.Errorf("--classes %s names %d classes: want 2 to %d, one name a line", path, len(names), mnist.MaxClasses)
	}
	if err := nn.ValidateClassNames(names, len(names)); err != nil {
		return nil, fmt.Errorf("--classes %s: %v (line numbers are class numbers + 1)", path, err)
	}
	return names, nil
}

// classLabels returns the display names of n classes: the model's names,
// or the labels the data set gave them.
func classLabels(info nn.ModelInfo, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = info.ClassName(i)
	}
	return out
}
