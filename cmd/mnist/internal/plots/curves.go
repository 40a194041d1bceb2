package plots

import (
	"errors"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Default sizes in pixels, used when Curves gets a zero size.
const (
	CurvesWidth  = 1200
	CurvesHeight = 480
)

// Curves draws runs side by side in two panels, loss (train dashed, test
// solid) and test accuracy, by epoch, one colour per run with a legend, and
// writes the picture to path (format from the extension). A zero width or
// height takes the default. Non-finite values (a diverged loss) are left
// out; a run without any points is an error.
func Curves(path string, runs []Run, width, height int) error {
	paint, err := curves(runs)
	if err != nil {
		return err
	}
	width, height = orDefault(width, CurvesWidth), orDefault(height, CurvesHeight)
	return save(path, width, height, paint)
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// curves builds the two panels and returns the function that draws them.
func curves(runs []Run) (func(draw.Canvas), error) {
	any := false
	for _, r := range runs {
		any = any || !finite(r.TrainLoss).empty() || !finite(r.TestLoss).empty() || !finite(r.TestAccuracy).empty()
	}
	if !any {
		return nil, errors.New("plots: curves: no finite train/epoch_loss, test/loss or test/accuracy values to plot")
	}
	loss, acc := plot.New(), plot.New()
	loss.Title.Text, acc.Title.Text = "loss", "test accuracy"
	loss.X.Label.Text, acc.X.Label.Text = "epoch", "epoch"
	loss.Y.Label.Text = "cross-entropy"
	loss.X.Tick.Marker, acc.X.Tick.Marker = integerTicks{}, integerTicks{}
	loss.Y.Tick.Marker, acc.Y.Tick.Marker = distinctTicks{}, distinctTicks{}
	loss.Legend.Top, acc.Legend.Top = true, false // loss falls, accuracy rises
	percent := isFraction(runs)
	if percent {
		acc.Y.Label.Text = "% correct"
	} else {
		acc.Y.Label.Text = "accuracy"
	}
	for i, r := range runs {
		colour := plotutil.Color(i)
		name := func(what string) string {
			switch {
			case r.Name == "":
				return what
			case what == "":
				return r.Name
			}
			return r.Name + " " + what
		}
		if err := addLine(loss, finite(r.TrainLoss), name("train"), colour, true, 1); err != nil {
			return nil, err
		}
		if err := addLine(loss, finite(r.TestLoss), name("test"), colour, false, 1); err != nil {
			return nil, err
		}
		scale := 1.0
		if percent {
			scale = 100
		}
		label := ""
		if len(runs) > 1 {
			label = name("")
		}
		if err := addLine(acc, finite(r.TestAccuracy), label, colour, false, scale); err != nil {
			return nil, err
		}
	}
	return func(c draw.Canvas) {
		tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 8,
			PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3,
			PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
		panels := [][]*plot.Plot{{loss, acc}}
		canvases := plot.Align(panels, tiles, c)
		loss.Draw(canvases[0][0])
		acc.Draw(canvases[0][1])
	}, nil
}

// series is a list of points; finite drops the non-finite ones.
type series []Point

func (s series) empty() bool { return len(s) == 0 }

func finite(pts []Point) series {
	var out series
	for _, p := range pts {
		if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) && !math.IsNaN(p.Epoch) && !math.IsInf(p.Epoch, 0) {
			out = append(out, p)
		}
	}
	return out
}

// isFraction reports whether every accuracy value lies in [0, 1].
func isFraction(runs []Run) bool {
	for _, r := range runs {
		for _, p := range finite(r.TestAccuracy) {
			if p.Value < 0 || p.Value > 1 {
				return false
			}
		}
	}
	return true
}

// addLine adds one series as a line with point marks, its values times
// scale; a non-empty label puts it in the legend.
func addLine(p *plot.Plot, s series, label string, c color.Color, dashed bool, scale float64) error {
	if s.empty() {
		return nil
	}
	marked := len(s) <= maxMarked
	s = decimate(s, maxLinePoints)
	xys := make(plotter.XYs, len(s))
	for i, pt := range s {
		xys[i] = plotter.XY{X: pt.Epoch, Y: pt.Value * scale}
	}
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	line.Color, points.Color = c, c
	line.Width = vg.Points(1.5)
	points.Shape = draw.CircleGlyph{}
	points.Radius = vg.Points(2)
	if dashed {
		line.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		points.Shape = draw.BoxGlyph{}
	}
	if !marked { // a mark per point would cover the line (and take minutes to draw)
		p.Add(line)
		if label != "" {
			p.Legend.Add(label, line)
		}
		return nil
	}
	p.Add(line, points)
	if label != "" {
		p.Legend.Add(label, line, points)
	}
	return nil
}

// Series longer than maxMarked points are drawn without a mark per point,
// and those longer than maxLinePoints are decimated first: no picture has
// the pixels to show more, and drawing 200,000 points took minutes.
const (
	maxMarked     = 200
	maxLinePoints = 4000
)

// decimate returns s when it has at most limit points, else the first and
// last point and, of each of limit/4 runs of consecutive points, the lowest
// and the highest (in their order): the line keeps its shape and its
// extremes.
func decimate(s series, limit int) series {
	if len(s) <= limit {
		return s
	}
	buckets := limit / 4
	out := series{s[0]}
	for b := range buckets {
		lo, hi := 1+b*(len(s)-2)/buckets, 1+(b+1)*(len(s)-2)/buckets
		if lo >= hi {
			continue
		}
		imin, imax := lo, lo
		for i := lo; i < hi; i++ {
			if s[i].Value < s[imin].Value {
				imin = i
			}
			if s[i].Value > s[imax].Value {
				imax = i
			}
		}
		out = append(out, s[min(imin, imax)])
		if imin != imax {
			out = append(out, s[max(imin, imax)])
		}
	}
	return append(out, s[len(s)-1])
}

// integerTicks marks whole epochs only (the default ticker would put a mark
// at epoch 1.5), every epoch when there are a dozen or fewer.
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	var out []plot.Tick
	if max-min <= 12 {
		for v := math.Ceil(min); v <= max; v++ {
			out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
		}
		return out
	}
	for _, t := range (plot.DefaultTicks{}).Ticks(min, max) {
		if t.Value == math.Trunc(t.Value) {
			out = append(out, t)
		}
	}
	return out
}

// distinctTicks is gonum's default ticker with labels that say their values:
// over a narrow range (test accuracy from 98.6 to 99.3) the default labels
// can all read "99". Each label gets the fewest decimals (the same for all)
// that write every labelled tick's value exactly, so no two read alike.
type distinctTicks struct{}

func (distinctTicks) Ticks(min, max float64) []plot.Tick {
	ticks := (plot.DefaultTicks{}).Ticks(min, max)
	for decimals := 0; decimals <= 10; decimals++ {
		exact := true
		for _, t := range ticks {
			if t.Label == "" {
				continue
			}
			v, _ := strconv.ParseFloat(strconv.FormatFloat(t.Value, 'f', decimals, 64), 64)
			if math.Abs(v-t.Value) > 1e-9*math.Max(1, math.Abs(t.Value)) {
				exact = false
				break
			}
		}
		if exact {
			for i := range ticks {
				if ticks[i].Label != "" {
					ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', decimals, 64)
				}
			}
			return ticks
		}
	}
	return ticks
}
