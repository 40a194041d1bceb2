package plots

import (
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette"
	"gonum.org/v1/plot/palette/brewer"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Default size in pixels of Confusion's picture.
const (
	ConfusionWidth  = 720
	ConfusionHeight = 720
)

// Confusion draws matrix as a heat map with the count written in every cell
// and writes it to path (format from the extension). matrix[t][p] counts
// the samples of true class t predicted as p; rows run top to bottom and
// columns left to right in class order. classLabels names the classes; nil
// numbers them from 0. The title gives the sample count and the accuracy.
func Confusion(path string, matrix [][]int, classLabels []string) error {
	paint, err := confusion(matrix, classLabels)
	if err != nil {
		return fmt.Errorf("%w (writing %s)", err, path)
	}
	return save(path, ConfusionWidth, ConfusionHeight, paint)
}

// countGrid adapts a confusion matrix to plotter.GridXYZ: column c is the
// predicted class, grid row r the true class n-1-r, so class 0 is on top.
type countGrid [][]int

func (g countGrid) Dims() (c, r int)     { return len(g), len(g) }
func (g countGrid) Z(c, r int) float64   { return float64(g[len(g)-1-r][c]) }
func (g countGrid) X(c int) float64      { return float64(c) }
func (g countGrid) Y(r int) float64      { return float64(r) }
func (g countGrid) trueClassY(t int) int { return len(g) - 1 - t }

func confusion(matrix [][]int, labels []string) (func(draw.Canvas), error) {
	n := len(matrix)
	if n == 0 {
		return nil, fmt.Errorf("plots: confusion: empty matrix")
	}
	total, correct, most := 0, 0, 0
	for t, row := range matrix {
		if len(row) != n {
			return nil, fmt.Errorf("plots: confusion: row %d has %d columns, want %d (the matrix must be square)", t, len(row), n)
		}
		for p, v := range row {
			if v < 0 {
				return nil, fmt.Errorf("plots: confusion: negative count %d at true %d, predicted %d", v, t, p)
			}
			total += v
			most = max(most, v)
			if t == p {
				correct += v
			}
		}
	}
	if labels == nil {
		for i := range n {
			labels = append(labels, strconv.Itoa(i))
		}
	}
	if len(labels) != n {
		return nil, fmt.Errorf("plots: confusion: %d class labels for a %dx%d matrix", len(labels), n, n)
	}

	pal, err := brewer.GetPalette(brewer.TypeSequential, "Blues", 9)
	if err != nil {
		return nil, err
	}
	g := countGrid(matrix)
	heat := plotter.NewHeatMap(g, palette.Palette(pal))
	heat.Min, heat.Max = 0, float64(max(most, 1))

	var cells plotter.XYLabels
	var styles []text.Style
	p := plot.New()
	for t, row := range matrix {
		for c, v := range row {
			cells.XYs = append(cells.XYs, plotter.XY{X: float64(c), Y: float64(g.trueClassY(t))})
			cells.Labels = append(cells.Labels, strconv.Itoa(v))
			st := p.X.Tick.Label // the plot's default font
			st.XAlign, st.YAlign = draw.XCenter, draw.YCenter
			st.Font.Size = cellFontSize(n)
			st.Color = color.Black
			if float64(v) > 0.55*float64(most) {
				st.Color = color.White // readable on the dark end of the palette
			}
			styles = append(styles, st)
		}
	}
	counts, err := plotter.NewLabels(cells)
	if err != nil {
		return nil, err
	}
	counts.TextStyle = styles

	accuracy := 0.0
	if total > 0 {
		accuracy = 100 * float64(correct) / float64(total)
	}
	p.Title.Text = fmt.Sprintf("confusion matrix: %d samples, %.2f%% correct", total, accuracy)
	p.X.Label.Text, p.Y.Label.Text = "predicted", "true"
	var xt, yt []plot.Tick
	for i, l := range labels {
		xt = append(xt, plot.Tick{Value: float64(i), Label: l})
		yt = append(yt, plot.Tick{Value: float64(g.trueClassY(i)), Label: l})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.ConstantTicks(xt), plot.ConstantTicks(yt)
	p.Add(heat, counts)
	return func(c draw.Canvas) {
		p.Draw(draw.Crop(c, vg.Millimeter*2, -vg.Millimeter*2, vg.Millimeter*2, -vg.Millimeter*2))
	}, nil
}

// cellFontSize shrinks the count labels as the classes get many.
func cellFontSize(n int) vg.Length {
	switch {
	case n <= 12:
		return vg.Points(11)
	case n <= 30:
		return vg.Points(7)
	}
	return vg.Points(4)
}
