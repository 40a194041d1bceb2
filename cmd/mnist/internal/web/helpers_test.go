package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/mnist-go/mnist/nn"
)

// testSpec is the tutorial's architecture, which `mnist train` writes by default.
var testSpec = nn.MLP(28, 28, []int{64, 32}, 10)

// untrainedModel writes an untrained model file (as `mnist train` would,
// metadata included) and loads it: the answers are arbitrary but
// deterministic, which is all the handler tests need.
func untrainedModel(t testing.TB) *nn.Classifier {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model.safetensors")
	info := nn.ModelInfo{Spec: testSpec, Norm: nn.MNISTNormalization, Dataset: "synthetic", Epochs: 2, TestAccuracy: 0.5, Seed: 7, Optimizer: "sgd lr=0.05", Batch: 64, Backend: "cpu"}
	if err := nn.SaveModel(path, nn.InitParams(testSpec, 7), info); err != nil {
		t.Fatal(err)
	}
	m, err := nn.LoadClassifier(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newTestServer returns a Server for m that also answers to example.com,
// the Host of httptest.NewRequest's requests.
func newTestServer(t testing.TB, m *nn.Classifier, opt Options) *Server {
	t.Helper()
	opt.AllowHosts = append(opt.AllowHosts[:len(opt.AllowHosts):len(opt.AllowHosts)], "example.com")
	s, err := New(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveLoopback runs s on a loopback port until the test ends and returns
// its base URL. The test fails when Serve does not stop cleanly.
func serveLoopback(t testing.TB, s *Server) string {
	t.Helper()
	base, cancel, wait := startServe(t, s)
	t.Cleanup(func() {
		cancel()
		wait()
	})
	return base
}

// startServe runs s on a loopback port and returns its base URL, the
// function that begins its shutdown, and one that waits for Serve to return
// and fails the test when it returns an error or does not return.
func startServe(t testing.TB, s *Server) (base string, cancel context.CancelFunc, wait func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), cancel, func() {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Serve did not return after its context was cancelled")
		}
	}
}

// stroke is a polyline in 0..1 coordinates of a square drawing.
type stroke [][2]float64

// Strokes of clearly written digits, in 0..1 of a square pad, as a person
// would draw them on the page.
var (
	strokesOne   = []stroke{{{0.52, 0.15}, {0.50, 0.50}, {0.48, 0.85}}}
	strokesSeven = []stroke{{{0.25, 0.18}, {0.75, 0.18}, {0.62, 0.45}, {0.48, 0.85}}}
	strokesZero  = []stroke{arc(0.5, 0.5, 0.22, 0.33, -90, 270, 40)}

	// digitStrokes has one clearly written example of each digit.
	digitStrokes = [10][]stroke{
		0: strokesZero,
		1: strokesOne,
		2: {append(arc(0.5, 0.33, 0.2, 0.16, 200, 380, 20), [2]float64{0.28, 0.82}, [2]float64{0.75, 0.82})},
		3: {arc(0.48, 0.32, 0.2, 0.15, 210, 450, 20), arc(0.48, 0.64, 0.22, 0.18, 270, 510, 20)},
		4: {{{0.6, 0.15}, {0.25, 0.6}, {0.78, 0.6}}, {{0.6, 0.15}, {0.6, 0.85}}},
		5: {{{0.72, 0.17}, {0.32, 0.17}, {0.3, 0.45}}, arc(0.48, 0.63, 0.22, 0.2, 220, 500, 24)},
		6: {append(arc(0.8, 0.6, 0.46, 0.46, 240, 180, 12), arc(0.52, 0.66, 0.18, 0.16, 180, 530, 30)...)},
		7: strokesSeven,
		8: {arc(0.5, 0.31, 0.17, 0.16, 0, 360, 30), arc(0.5, 0.66, 0.21, 0.19, 0, 360, 30)},
		9: {arc(0.5, 0.35, 0.18, 0.17, 0, 360, 30), {{0.68, 0.35}, {0.64, 0.85}}},
	}
)

// arc is an elliptic arc around (cx, cy) from angle a0 to a1 in degrees
// (0 is to the right, 90 down), as n segments.
func arc(cx, cy, rx, ry, a0, a1 float64, n int) stroke {
	var s stroke
	for i := 0; i <= n; i++ {
		a := (a0 + (a1-a0)*float64(i)/float64(n)) * math.Pi / 180
		s = append(s, [2]float64{cx + rx*math.Cos(a), cy + ry*math.Sin(a)})
	}
	return s
}

// drawDigit renders strokes as thick round-capped dark lines on white paper,
// size×size pixels, as the page's canvas does.
func drawDigit(size int, strokes []stroke) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	half := 0.075 * float64(size) / 2
	for y := range size {
		for x := range size {
			px, py := (float64(x)+0.5)/float64(size), (float64(y)+0.5)/float64(size)
			d := math.Inf(1)
			for _, s := range strokes {
				for i := 0; i+1 < len(s); i++ {
					d = math.Min(d, segmentDistance(px, py, s[i], s[i+1]))
				}
			}
			// Anti-aliased edge one pixel wide.
			cover := math.Max(0, math.Min(1, half-d*float64(size)+0.5))
			img.Pix[y*size+x] = uint8(math.Round(255 * (1 - cover)))
		}
	}
	return img
}

func segmentDistance(px, py float64, a, b [2]float64) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	t := 0.0
	if l := dx*dx + dy*dy; l > 0 {
		t = math.Max(0, math.Min(1, ((px-a[0])*dx+(py-a[1])*dy)/l))
	}
	return math.Hypot(px-(a[0]+t*dx), py-(a[1]+t*dy))
}

func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// blank is a white image with no ink.
func blank(size int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	return img
}

// paletted is a GIF-able copy of img.
func paletted(img *image.Gray) *image.Paletted {
	var pal color.Palette
	for v := range 256 {
		pal = append(pal, color.Gray{uint8(v)})
	}
	p := image.NewPaletted(img.Bounds(), pal)
	copy(p.Pix, img.Pix)
	return p
}

// do sends one request to h and returns the recorded answer.
func do(h http.Handler, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decodeJSON[T any](t testing.TB, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer is not JSON: %v\n%s", err, b)
	}
	return v
}

// invert swaps ink and paper: bright ink on black, as MNIST stores digits.
func invert(img *image.Gray) *image.Gray {
	out := image.NewGray(img.Bounds())
	for i, p := range img.Pix {
		out.Pix[i] = 255 - p
	}
	return out
}

// grayOf wraps w×h pixels as an image.
func grayOf(pixels []uint8, w, h int) *image.Gray {
	img := image.NewGray(image.Rect(0, 0, w, h))
	copy(img.Pix, pixels)
	return img
}

// upscaleGray repeats each pixel k×k times.
func upscaleGray(img *image.Gray, k int) *image.Gray {
	b := img.Bounds()
	out := image.NewGray(image.Rect(0, 0, b.Dx()*k, b.Dy()*k))
	for y := range b.Dy() * k {
		for x := range b.Dx() * k {
			out.Pix[y*out.Stride+x] = img.Pix[(y/k)*img.Stride+x/k]
		}
	}
	return out
}
