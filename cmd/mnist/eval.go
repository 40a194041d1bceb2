package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/nn"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "evaluate a saved model: accuracy, loss, per-class precision and recall, confusion matrix",
		Flags: append(backendFlags(), dataDirFlag(),
			&cli.StringFlag{Name: "model", Value: "model.safetensors", Usage: "model file written by `mnist train`"},
			&cli.StringFlag{Name: "split", Value: "test", Usage: "train or test"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object"},
			&cli.StringFlag{Name: "label-base", Usage: "the label of the first class (default: the one the model was trained with)"},
		),
		Action: evalAction,
	}
}

// evalReport is what `mnist eval` prints.
type evalReport struct {
	Model     string    `json:"model"`
	Arch      string    `json:"architecture"`
	Split     string    `json:"split"`
	Samples   int       `json:"samples"`
	Accuracy  float64   `json:"accuracy"`
	Loss      float64   `json:"loss"`
	Precision []float64 `json:"precision"` // per class
	Recall    []float64 `json:"recall"`    // per class
	Confusion [][]int   `json:"confusion"` // [true][predicted]
	Backend   string    `json:"backend"`
	Classes   []string  `json:"classes"` // the classes' names (their labels when the model names none)
}

func evalAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	split, err := mnist.ParseSplit(c.String("split"))
	if err != nil {
		return usageError{err}
	}
	b, why, err := openBackend(c)
	if err != nil {
		return err
	}
	defer b.Close()
	if !c.Bool("json") {
		fmt.Fprintf(c.App.ErrWriter, "backend %s\n", why)
	}
	path := c.String("model")
	params, info, err := nn.LoadModel(path)
	if err != nil {
		return err
	}
	ds, err := mnist.Load(c.String("data-dir"), split)
	if err != nil {
		return err
	}
	if ds.Rows != info.Spec.Rows || ds.Cols != info.Spec.Cols {
		return fmt.Errorf("%s takes %d×%d images but %s holds %d×%d images", path, info.Spec.Rows, info.Spec.Cols, ds.Name, ds.Rows, ds.Cols)
	}
	base := info.LabelBase
	if v := c.String("label-base"); v != "" {
		if base, err = strconv.Atoi(v); err != nil || base < 0 || base > 255 {
			return usageErrorf("--label-base %q: want a label from 0 to 255", v)
		}
	}
	if err := ds.ShiftLabels(base); err != nil {
		return fmt.Errorf("%w: %s was trained on labels numbered from %d (--label-base sets another)", err, path, info.LabelBase)
	}
	ev, err := evaluate(b, params, info, ds)
	if err != nil {
		return err
	}
	r := evalReport{
		Model: path, Arch: info.Spec.String(), Split: string(split), Samples: ev.Samples,
		Accuracy: ev.Accuracy, Loss: ev.Loss, Backend: b.Name(),
		Confusion: nn.Confusion(ds.Labels, ev.Predictions, info.Spec.Classes),
		Classes:   classLabels(info, info.Spec.Classes),
	}
	r.Precision, r.Recall = precisionRecall(r.Confusion)
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	r.print(c.App.Writer)
	return nil
}

// evaluate runs a model over a whole data set on b.
func evaluate(b nn.Backend, params []float32, info nn.ModelInfo, ds *mnist.Dataset) (*nn.Evaluation, error) {
	m, err := nn.NewModel(b, info.Spec, min(info.Spec.EvalBatch(), ds.Len()))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if err := m.SetParams(params); err != nil {
		return nil, err
	}
	data, err := nn.UploadData(b, ds)
	if err != nil {
		return nil, err
	}
	defer data.Close()
	e, err := nn.NewEvaluator(m, data, info.Norm)
	if err != nil {
		return nil, err
	}
	defer e.Close()
	return e.Run()
}

// precisionRecall derives per-class precision and recall from a confusion
// matrix m[true][predicted]. A class never predicted has precision 0.
func precisionRecall(m [][]int) (precision, recall []float64) {
	n := len(m)
	precision, recall = make([]float64, n), make([]float64, n)
	for k := 0; k < n; k++ {
		var predicted, actual int
		for j := 0; j < n; j++ {
			predicted += m[j][k]
			actual += m[k][j]
		}
		if predicted > 0 {
			precision[k] = float64(m[k][k]) / float64(predicted)
		}
		if actual > 0 {
			recall[k] = float64(m[k][k]) / float64(actual)
		}
	}
	return precision, recall
}

// shorten cuts s to at most n characters for a column heading.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func (r evalReport) print(w io.Writer) {
	fmt.Fprintf(w, "%s (%s) on the %s split: %d samples\n", r.Model, r.Arch, r.Split, r.Samples)
	fmt.Fprintf(w, "accuracy %.2f%%  loss %.4f\n\n", 100*r.Accuracy, r.Loss)
	width := 5 // of the class column: the longest name
	for _, name := range r.Classes {
		width = max(width, utf8.RuneCountInString(name))
	}
	fmt.Fprintf(w, "%*s  precision  recall\n", width, "class")
	for k := range r.Precision {
		fmt.Fprintf(w, "%*s  %8.2f%%  %5.2f%%\n", width, r.Classes[k], 100*r.Precision[k], 100*r.Recall[k])
	}
	fmt.Fprintf(w, "\nconfusion matrix (rows: true class, columns: predicted)\n%*s", width, "")
	for k := range r.Confusion {
		fmt.Fprintf(w, " %5s", shorten(r.Classes[k], 5))
	}
	fmt.Fprintln(w)
	for k, row := range r.Confusion {
		fmt.Fprintf(w, "%*s", width, r.Classes[k])
		for _, v := range row {
			fmt.Fprintf(w, "%6d", v)
		}
		fmt.Fprintln(w)
	}
}
