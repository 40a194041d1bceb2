package digitize

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"testing"

	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
)

// realTestSet loads the real MNIST test split, or skips the test saying why.
// It is the one place that finds the files (to become mnisttest.RealDataDir):
// $MNIST_DATA, else /tmp/d1.
func realTestSet(t *testing.T) *mnist.Dataset {
	t.Helper()
	dir := mnisttest.RealDataDir(t)
	d, err := mnist.Load(dir, mnist.Test)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// raceDetector is set under the race detector (race_test.go).
var raceDetector = false

var (
	white = color.NRGBA{255, 255, 255, 255}
	black = color.NRGBA{0, 0, 0, 255}
	blue  = color.NRGBA{30, 40, 160, 255}   // ballpoint
	cream = color.NRGBA{250, 240, 200, 255} // paper
)

// renderings are the ways a test digit is redrawn before Digitize must undo
// them. The digit's 28×28 square is drawn into rect of a w×h canvas.
var renderings = []struct {
	name string
	// meanMAD bounds the mean absolute difference from the original over the
	// digits, in 0..255 levels; shiftMAD bounds each digit's difference when
	// a shift of up to a pixel is allowed (a re-rendering moves the centre of
	// mass by a fraction of a pixel, which can round the placement either
	// way, as MNIST's own digits sit anywhere within ±½ pixel of the centre).
	meanMAD, shiftMAD float64
	make              func(t testing.TB, g *image.Gray) image.Image
}{
	{"identity", 1, 2, func(t testing.TB, g *image.Gray) image.Image { return g }},
	{"64x64", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return paint(inkMask(g, 64, 64, image.Rect(0, 0, 64, 64)), 64, 64, white, black)
	}},
	{"200x150 off centre", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return paint(inkMask(g, 200, 150, image.Rect(20, 40, 104, 124)), 200, 150, white, black)
	}},
	{"17x17", 17, 30, func(t testing.TB, g *image.Gray) image.Image {
		return paint(inkMask(g, 17, 17, image.Rect(0, 0, 17, 17)), 17, 17, white, black)
	}},
	{"inverted 64x64", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return paint(inkMask(g, 64, 64, image.Rect(0, 0, 64, 64)), 64, 64, black, white)
	}},
	{"blue on cream 100x100", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return paint(inkMask(g, 100, 100, image.Rect(0, 0, 100, 100)), 100, 100, blue, cream)
	}},
	{"JPEG blue on cream", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return roundTrip(t, paint(inkMask(g, 100, 100, image.Rect(0, 0, 100, 100)), 100, 100, blue, cream), "jpeg")
	}},
	{"GIF inverted", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return roundTrip(t, paint(inkMask(g, 64, 64, image.Rect(0, 0, 64, 64)), 64, 64, black, white), "gif")
	}},
	{"black strokes on clear", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return strokes(inkMask(g, 56, 56, image.Rect(0, 0, 56, 56)), 56, 56, black)
	}},
	{"white strokes on clear PNG", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return roundTrip(t, strokes(inkMask(g, 56, 56, image.Rect(0, 0, 56, 56)), 56, 56, white), "png")
	}},
	{"noisy photo", 9, 17, func(t testing.TB, g *image.Gray) image.Image {
		return addNoise(paint(inkMask(g, 120, 120, image.Rect(0, 0, 120, 120)), 120, 120, black, white), 10, 1)
	}},
}

// TestMNISTRoundTrip redraws real test digits in other sizes, places,
// polarities, colours and formats, and checks that Digitize gets back close
// to the original 28×28: MNIST's digits were made by the same recipe, so the
// ideal pipeline is the identity on them.
func TestMNISTRoundTrip(t *testing.T) {
	d := realTestSet(t)
	n := 200 // DIGITS=n overrides; all 10000 take about a minute
	if s := os.Getenv("DIGITS"); s != "" {
		if _, err := fmt.Sscan(s, &n); err != nil || n < 1 || n > d.Len() {
			t.Fatalf("DIGITS=%s: want a number of digits from 1 to %d", s, d.Len())
		}
	} else if testing.Short() || raceDetector {
		n = 30
	}
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			var sum, worst, worstShifted float64
			for i := range n {
				orig := d.Image(i)
				res, err := Digitize(r.make(t, digitGray(orig, 28, 28)), Options{})
				if err != nil {
					t.Fatalf("digit %d: %v", i, err)
				}
				mad := meanAbsDiff(res.Pixels, orig)
				sum += mad
				worst = max(worst, mad)
				worstShifted = max(worstShifted, shiftedMAD(res.Pixels, orig))
				if err := similar(res.Pixels, orig, r.shiftMAD); err != nil {
					t.Errorf("digit %d (a %d): %v", i, d.Labels[i], err)
				}
				// Negative control: the output is nearer its own digit than
				// the next test digit with another label.
				j := otherDigit(d, i)
				if own, other := shiftedMAD(res.Pixels, orig), shiftedMAD(res.Pixels, d.Image(j)); other <= own {
					t.Errorf("digit %d (a %d) comes out nearer digit %d (a %d): %.1f vs %.1f", i, d.Labels[i], j, d.Labels[j], other, own)
				}
				if mx, my := res.MassX, res.MassY; mx < 13.5 || mx >= 14.5 || my < 13.5 || my >= 14.5 {
					t.Errorf("digit %d: centre of mass (%.2f, %.2f), want within ½ pixel of (14, 14)", i, mx, my)
				}
			}
			if mean := sum / float64(n); mean > r.meanMAD {
				t.Errorf("mean absolute difference %.2f over %d digits, want ≤ %g", mean, n, r.meanMAD)
			}
			t.Logf("%d digits: mean absolute difference %.2f, worst %.2f (%.2f shifted) levels of 255", n, sum/float64(n), worst, worstShifted)
		})
	}
}

// otherDigit returns the next digit after i (wrapping round) with another label.
func otherDigit(d *mnist.Dataset, i int) int {
	j := (i + 1) % d.Len()
	for d.Labels[j] == d.Labels[i] {
		j = (j + 1) % d.Len()
	}
	return j
}

// similar checks that got is within maxMAD (shift-tolerant, see shiftedMAD)
// of want and that their centres of mass are within a pixel in x and in y.
func similar(got, want []uint8, maxMAD float64) error {
	if m := shiftedMAD(got, want); m > maxMAD {
		return fmt.Errorf("differs by %.1f levels per pixel (even shifted by up to a pixel), want ≤ %g", m, maxMAD)
	}
	gx, gy := massCentre(got, 28)
	wx, wy := massCentre(want, 28)
	if dx, dy := gx-wx, gy-wy; dx < -1 || dx > 1 || dy < -1 || dy > 1 {
		return fmt.Errorf("centre of mass (%.2f, %.2f), the original's (%.2f, %.2f): more than a pixel apart", gx, gy, wx, wy)
	}
	return nil
}

// TestSimilarCatchesAnotherDigit shows that the check in TestMNISTRoundTrip
// can fail: a digit against another digit of another label.
func TestSimilarCatchesAnotherDigit(t *testing.T) {
	d := realTestSet(t)
	caught := 0
	n := 200
	for i := range n {
		j := otherDigit(d, i)
		res, err := Digitize(digitGray(d.Image(j), 28, 28), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if similar(res.Pixels, d.Image(i), 17) != nil {
			caught++
		}
	}
	// Some pairs of different digits are alike (a 1 and a 7); most are not.
	if caught < n*95/100 {
		t.Errorf("the check told only %d of %d pairs of different digits apart", caught, n)
	}
	t.Logf("the check told %d of %d pairs of different digits apart", caught, n)
}

// shiftedMAD is the least mean absolute difference between a and b (28×28)
// over shifts of a by up to one pixel each way.
func shiftedMAD(a, b []uint8) float64 {
	best := -1.0
	for dy := -1; dy <= 1; dy++ {
		for dx := -1; dx <= 1; dx++ {
			s := 0
			for y := range 28 {
				for x := range 28 {
					v := 0
					if sx, sy := x+dx, y+dy; sx >= 0 && sx < 28 && sy >= 0 && sy < 28 {
						v = int(a[sy*28+sx])
					}
					s += max(v-int(b[y*28+x]), int(b[y*28+x])-v)
				}
			}
			if m := float64(s) / 784; best < 0 || m < best {
				best = m
			}
		}
	}
	return best
}
