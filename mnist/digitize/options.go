package digitize

import "fmt"

// Polarity says which way round ink and paper are in an input image.
// MNIST's digits are bright ink (255) on a black background (0); a scan or a
// photo of a pen drawing is the reverse and must be inverted.
type Polarity int

// The polarities. Auto is the zero value, so that Options{} decides itself.
const (
	// Auto decides from the image: the paper is the level of the image's
	// border, and the ink is whichever side of it (darker or brighter)
	// deviates more strongly.
	Auto Polarity = iota
	// InkDark is dark ink on light paper: a scan, a photo, a drawing on a
	// white canvas. It is inverted.
	InkDark
	// InkBright is bright ink on dark paper, as MNIST itself. It is kept.
	InkBright
)

// String returns the name ParsePolarity accepts: "auto", "dark" or "bright".
func (p Polarity) String() string {
	switch p {
	case Auto:
		return "auto"
	case InkDark:
		return "dark"
	case InkBright:
		return "bright"
	}
	return fmt.Sprintf("Polarity(%d)", int(p))
}

// ParsePolarity reads a polarity from a command-line flag or a request:
// "auto", "dark" (dark ink on light paper) or "bright" (bright ink on dark).
func ParsePolarity(s string) (Polarity, error) {
	switch s {
	case "auto", "":
		return Auto, nil
	case "dark", "ink-dark", "black-on-white":
		return InkDark, nil
	case "bright", "ink-bright", "white-on-black":
		return InkBright, nil
	}
	return Auto, fmt.Errorf("unknown ink polarity %q: use auto, dark (dark ink on light paper) or bright (bright ink on dark paper)", s)
}

// Options control Digitize. The zero value means MNIST's recipe: a 28×28
// output with the digit scaled into a 20-pixel box, polarity decided from the
// image. A zero field takes its default.
type Options struct {
	Rows, Cols int // output size in pixels; default 28×28
	// Box is the length in pixels of the digit's longer side after scaling;
	// default MNIST's proportion of the output, 20/28 of its shorter side
	// (20 for 28×28, 23 for 32×32, 14 for 20×20). It must fit in the output.
	Box int
	// Ink says whether to invert; default Auto.
	Ink Polarity
	// Threshold is the fraction of full ink (after the contrast stretch) a
	// pixel must exceed to count when cropping to the ink, so that faint
	// smudges and the halo of a blurred stroke do not widen the crop;
	// default 0.25, and it must be below 1.
	Threshold float64
	// MinContrast is the least difference between ink and paper, as a
	// fraction of black to white, that counts as ink at all; an image whose
	// every pixel is closer to the paper is blank. Default 0.1.
	MinContrast float64
}

// Defaults of Options, MNIST's recipe.
const (
	DefaultRows        = 28
	DefaultCols        = 28
	DefaultBox         = 20
	DefaultThreshold   = 0.25
	DefaultMinContrast = 0.1
)

// DefaultBoxFor is the box of a rows×cols output in MNIST's proportion:
// DefaultBox of DefaultRows, scaled to the shorter side, at least 1.
func DefaultBoxFor(rows, cols int) int {
	return max(1, (DefaultBox*min(rows, cols)+DefaultRows/2)/DefaultRows)
}

// resolve fills in the defaults and checks the fields.
func (o Options) resolve() (Options, error) {
	if o.Rows == 0 {
		o.Rows = DefaultRows
	}
	if o.Cols == 0 {
		o.Cols = DefaultCols
	}
	if o.Box == 0 {
		o.Box = DefaultBoxFor(o.Rows, o.Cols)
	}
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.MinContrast == 0 {
		o.MinContrast = DefaultMinContrast
	}
	switch {
	case o.Rows < 1 || o.Cols < 1 || o.Rows > 4096 || o.Cols > 4096:
		return o, fmt.Errorf("digitize: output size %d×%d: want 1 to 4096 pixels a side", o.Rows, o.Cols)
	case o.Box < 1 || o.Box > min(o.Rows, o.Cols):
		return o, fmt.Errorf("digitize: box %d does not fit the %d×%d output: use 1 to %d", o.Box, o.Rows, o.Cols, min(o.Rows, o.Cols))
	case o.Ink < Auto || o.Ink > InkBright:
		return o, fmt.Errorf("digitize: unknown ink polarity %d: use Auto, InkDark or InkBright", int(o.Ink))
	case !(o.Threshold > 0 && o.Threshold < 1):
		return o, fmt.Errorf("digitize: threshold %g: want a fraction of full ink above 0 and below 1", o.Threshold)
	case !(o.MinContrast > 0 && o.MinContrast < 1):
		return o, fmt.Errorf("digitize: minimum contrast %g: want a fraction above 0 and below 1", o.MinContrast)
	}
	return o, nil
}
