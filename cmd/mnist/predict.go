package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/cpu"
	"github.com/mnist-go/mnist/mnist/digitize"
	"github.com/mnist-go/mnist/nn"
)

// loadClassifier reads the model of predict and serve, to run on the cpu
// backend's kernels one thread per image: a single image is too small to
// split, and serve's concurrent requests use the other cores (about 0.2 ms
// of CPU for a cnn image, against 2 ms in the Classifier's Go loops).
func loadClassifier(path string) (*nn.Classifier, error) {
	return nn.LoadClassifier(path, nn.WithBackend(func() (nn.Backend, error) {
		return cpu.New(cpu.WithThreads(1)), nil
	}))
}

func predictCommand() *cli.Command {
	return &cli.Command{
		Name:      "predict",
		Usage:     "read the digit (or other class) in each image (PNG, JPEG or GIF of any size, either polarity)",
		ArgsUsage: "IMAGE...",
		Description: "Each image is prepared the way MNIST was made: grey, ink made bright, cropped to the ink,\n" +
			"scaled so the longer side is 20 px and centred by mass in 28×28 (in the same proportions for a\n" +
			"model of another image size). Images that cannot be read are\n" +
			"reported and skipped; the exit status is then 1.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: "model.safetensors", Usage: "model file written by `mnist train`"},
			&cli.IntFlag{Name: "top", Value: 3, Usage: "how many of the most probable digits to show"},
			&cli.StringFlag{Name: "ink", Value: "auto", Usage: "ink colour: auto, dark (on light paper) or bright (on dark)"},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per image per line"},
		},
		Action: predictAction,
	}
}

// prediction is one line of `mnist predict --json`.
type prediction struct {
	File          string      `json:"file"`
	Digit         int         `json:"digit"` // the class's index, 0-based
	Class         string      `json:"class"` // its name: the model's, or its label
	Probabilities []float64   `json:"probabilities"`
	Top           []nn.Ranked `json:"top"`
	Inverted      bool        `json:"inverted"` // the image had dark ink on light paper
	Error         string      `json:"error,omitempty"`
}

func predictAction(c *cli.Context) error {
	if c.NArg() == 0 {
		return usageErrorf("predict needs at least one image file (mnist predict --model FILE IMAGE...)")
	}
	top := c.Int("top")
	if top < 1 {
		return usageErrorf("--top %d: must be at least 1", top)
	}
	ink, err := digitize.ParsePolarity(c.String("ink"))
	if err != nil {
		return usageError{err}
	}
	model, err := loadClassifier(c.String("model"))
	if err != nil {
		return err
	}
	defer model.Close()
	spec := model.Info.Spec
	opt := digitize.Options{Rows: spec.Rows, Cols: spec.Cols, Ink: ink}
	enc := json.NewEncoder(c.App.Writer)
	failed := 0
	for _, path := range c.Args().Slice() {
		p, err := predictFile(model, path, opt, top)
		if err != nil {
			failed++
			if c.Bool("json") {
				_ = enc.Encode(prediction{File: path, Digit: -1, Error: err.Error()})
			} else {
				fmt.Fprintf(c.App.ErrWriter, "mnist: %v\n", err)
			}
			continue
		}
		if c.Bool("json") {
			if err := enc.Encode(p); err != nil {
				return err
			}
			continue
		}
		var alts []string
		for _, r := range p.Top {
			alts = append(alts, fmt.Sprintf("%s %.1f%%", r.Name, 100*r.Probability))
		}
		fmt.Fprintf(c.App.Writer, "%s: %s   (%s)\n", path, p.Class, strings.Join(alts, ", "))
	}
	if failed > 0 {
		return exitError{code: 1, err: fmt.Errorf("%d of %d images could not be read", failed, c.NArg())}
	}
	return nil
}

func predictFile(model *nn.Classifier, path string, opt digitize.Options, top int) (prediction, error) {
	f, err := os.Open(path)
	if err != nil {
		return prediction{}, err
	}
	defer f.Close()
	res, err := digitize.Read(f, path, digitize.DefaultMaxPixels, opt)
	if err != nil {
		return prediction{}, err
	}
	probs, err := model.Probabilities(res.Pixels)
	if err != nil {
		return prediction{}, fmt.Errorf("%s: %w", path, err)
	}
	ranked := nn.Top(probs, top)
	for i := range ranked {
		ranked[i].Name = model.Info.ClassName(ranked[i].Class)
	}
	return prediction{File: path, Digit: ranked[0].Class, Class: ranked[0].Name, Probabilities: probs, Top: ranked, Inverted: res.Inverted}, nil
}
