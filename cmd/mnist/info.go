package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "summarise the data set: counts, image shape, classes, label histogram, pixel mean and std",
		Flags: []cli.Flag{dataDirFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			labelBaseFlag(),
			classesFlag(),
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			dir := c.String("data-dir")
			train, test, err := mnist.LoadBoth(dir)
			if err != nil {
				return err
			}
			var log io.Writer = c.App.ErrWriter
			if c.Bool("json") {
				log = nil
			}
			cs, err := setupClasses(c, log, train, test)
			if err != nil {
				return err
			}
			train.Classes, test.Classes = cs.count, cs.count
			summary := dataSummary{Dir: dir, Classes: cs.count, LabelBase: cs.base, ClassNames: cs.names, Train: train.Stats(), Test: test.Stats()}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(summary)
			}
			summary.print(c.App.Writer)
			return nil
		},
	}
}

type dataSummary struct {
	Dir        string      `json:"data_dir"`
	Classes    int         `json:"classes"`
	LabelBase  int         `json:"label_base"`            // the label of class 0
	ClassNames []string    `json:"class_names,omitempty"` // from --classes
	Train      mnist.Stats `json:"train"`
	Test       mnist.Stats `json:"test"`
}

func (s dataSummary) print(w io.Writer) {
	fmt.Fprintf(w, "data directory %s\n", s.Dir)
	info := nn.ModelInfo{ClassNames: s.ClassNames, LabelBase: s.LabelBase}
	fmt.Fprintf(w, "classes %d (labels %d to %d)", s.Classes, s.LabelBase, s.LabelBase+s.Classes-1)
	if len(s.ClassNames) > 0 {
		fmt.Fprintf(w, ": %s", strings.Join(s.ClassNames, " "))
	}
	fmt.Fprintln(w)
	for _, split := range []struct {
		name string
		st   mnist.Stats
	}{{"train", s.Train}, {"test", s.Test}} {
		st := split.st
		fmt.Fprintf(w, "%-5s %6d images, %d×%d, pixel mean %.4f std %.4f\n", split.name, st.Samples, st.Rows, st.Cols, st.Mean, st.Std)
		var counts []string
		for label, n := range st.Labels {
			counts = append(counts, fmt.Sprintf("%s:%d", info.ClassName(label), n))
		}
		fmt.Fprintf(w, "      labels %s\n", strings.Join(counts, " "))
	}
}
