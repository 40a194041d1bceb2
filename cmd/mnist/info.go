package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
)

func infoCommand() *cli.Command {
	return &cli.Command{
		Name:  "info",
		Usage: "summarise the data set: counts, image shape, label histogram, pixel mean and std",
		Flags: []cli.Flag{dataDirFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
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
			summary := dataSummary{Dir: dir, Train: train.Stats(), Test: test.Stats()}
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
	Dir   string      `json:"data_dir"`
	Train mnist.Stats `json:"train"`
	Test  mnist.Stats `json:"test"`
}

func (s dataSummary) print(w io.Writer) {
	fmt.Fprintf(w, "data directory %s\n", s.Dir)
	for _, split := range []struct {
		name string
		st   mnist.Stats
	}{{"train", s.Train}, {"test", s.Test}} {
		st := split.st
		fmt.Fprintf(w, "%-5s %6d images, %d×%d, pixel mean %.4f std %.4f\n", split.name, st.Samples, st.Rows, st.Cols, st.Mean, st.Std)
		var counts []string
		for label, n := range st.Labels {
			counts = append(counts, fmt.Sprintf("%d:%d", label, n))
		}
		fmt.Fprintf(w, "      labels %s\n", strings.Join(counts, " "))
	}
}
