package main

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

func summaryCommand() *cli.Command {
	return &cli.Command{
		Name:  "summary",
		Usage: "print a network's layers, output shapes and parameter counts (or a Graphviz graph with --dot)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: "mlp", Usage: "an architecture (mlp or cnn) or a model file"},
			&cli.StringFlag{Name: "hidden", Value: "64,32", Usage: "hidden layer widths, for an architecture"},
			&cli.BoolFlag{Name: "dot", Usage: "print a Graphviz digraph (render with `dot -Tpng`)"},
		},
		Action: func(c *cli.Context) error {
			if err := noArgs(c); err != nil {
				return err
			}
			spec, err := specFromFlags(c)
			if err != nil {
				return err
			}
			if c.Bool("dot") {
				spec.WriteDot(c.App.Writer)
			} else {
				spec.WriteSummary(c.App.Writer)
			}
			return nil
		},
	}
}

// specFromFlags reads --model (an architecture name or a model file) and --hidden.
func specFromFlags(c *cli.Context) (nn.Spec, error) {
	name := c.String("model")
	if st, err := os.Stat(name); err == nil && !st.IsDir() {
		_, info, err := nn.LoadModel(name)
		return info.Spec, err
	}
	spec, err := specFromModelFlags(c, 28, 28, mnist.DigitClasses)
	if err != nil {
		return nn.Spec{}, usageErrorf("--model %s: not a model file, and %v", name, err)
	}
	return spec, nil
}
