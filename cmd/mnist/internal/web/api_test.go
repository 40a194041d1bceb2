package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/gif"
	"io/fs"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mnist-go/mnist/mnist/digitize"
)

func TestPredictStatuses(t *testing.T) {
	m := untrainedModel(t)
	s := newTestServer(t, m, Options{})
	seven := drawDigit(280, strokesSeven)
	sevenPNG := encodePNG(t, seven)
	var gifBody bytes.Buffer
	if err := gif.Encode(&gifBody, paletted(seven), nil); err != nil {
		t.Fatal(err)
	}
	pixels := func(v []float64) []byte {
		b, err := json.Marshal(PixelsRequest{Pixels: v})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	digit := seven28(t)
	ones := make([]float64, 784)
	for i := range ones {
		ones[i] = 1
	}
	tooBig := append(slices.Clone(sevenPNG), make([]byte, DefaultMaxBodyBytes+1-len(sevenPNG))...)

	for _, tc := range []struct {
		name, method, target, ctype string
		body                        []byte
		status                      int
		errWant                     string // part of the JSON error; "" for a success
	}{
		{"png", "POST", "/api/predict", "image/png", sevenPNG, 200, ""},
		{"jpeg", "POST", "/api/predict", "image/jpeg", encodeJPEG(t, seven), 200, ""},
		{"png ink=dark", "POST", "/api/predict?ink=dark", "image/png", sevenPNG, 200, ""},
		{"json pixels 0..255", "POST", "/api/predict", "application/json", pixels(digit), 200, ""},
		{"json charset", "POST", "/api/predict", "application/json; charset=UTF-8", pixels(digit), 200, ""},
		{"json pixels 0..1", "POST", "/api/predict", "application/json", pixels(scale(digit, 1.0/255)), 200, ""},
		{"json 56x56", "POST", "/api/predict", "application/json", []byte(fmt.Sprintf(`{"pixels":%s,"width":56,"height":56}`, mustJSON(t, upscale(digit, 28, 2)))), 200, ""},

		{"413 image", "POST", "/api/predict", "image/png", tooBig, 413, "larger than the limit of 1 MiB"},
		{"413 json", "POST", "/api/predict", "application/json", bytes.Repeat([]byte(" "), DefaultMaxBodyBytes+1), 413, "larger than the limit"},

		{"415 text", "POST", "/api/predict", "text/plain", sevenPNG, 415, "send image/png, image/jpeg or application/json"},
		{"415 none", "POST", "/api/predict", "", sevenPNG, 415, "no Content-Type"},
		{"415 form", "POST", "/api/predict", "multipart/form-data; boundary=x", sevenPNG, 415, "multipart/form-data"},
		{"415 gif type", "POST", "/api/predict", "image/gif", gifBody.Bytes(), 415, "image/gif"},
		{"415 gif body as png", "POST", "/api/predict", "image/png", gifBody.Bytes(), 415, "GIF image but Content-Type says image/png"},
		{"415 png body as jpeg", "POST", "/api/predict", "image/jpeg", sevenPNG, 415, "PNG image but Content-Type says image/jpeg"},
		{"415 json latin1", "POST", "/api/predict", "application/json; charset=latin1", pixels(digit), 415, "UTF-8"},
		{"415 malformed type", "POST", "/api/predict", "image/", sevenPNG, 415, "Content-Type"},

		{"400 garbage png", "POST", "/api/predict", "image/png", []byte("definitely not a PNG file"), 400, "image"},
		{"400 truncated png", "POST", "/api/predict", "image/png", sevenPNG[:len(sevenPNG)/2], 400, "image"},
		{"400 empty body", "POST", "/api/predict", "image/png", nil, 400, "image"},
		{"400 malformed json", "POST", "/api/predict", "application/json", []byte(`{"pixels":[1,2,`), 400, "malformed JSON"},
		{"400 json not object", "POST", "/api/predict", "application/json", []byte(`[1,2,3]`), 400, "malformed JSON"},
		{"400 json unknown field", "POST", "/api/predict", "application/json", []byte(`{"pixel":[1]}`), 400, "unknown field"},
		{"400 json two values", "POST", "/api/predict", "application/json", append(pixels(digit), pixels(digit)...), 400, "more than one JSON value"},
		{"400 json no pixels", "POST", "/api/predict", "application/json", []byte(`{}`), 400, `no "pixels"`},
		{"400 json 783", "POST", "/api/predict", "application/json", pixels(digit[:783]), 400, "783 values"},
		{"400 json negative", "POST", "/api/predict", "application/json", pixels(append([]float64{-1}, digit[1:]...)), 400, "value 0"},
		{"400 json over 255", "POST", "/api/predict", "application/json", pixels(append([]float64{256}, digit[1:]...)), 400, "value 0"},
		{"400 json strings", "POST", "/api/predict", "application/json", []byte(`{"pixels":["a"]}`), 400, "malformed JSON"},
		{"400 bad ink", "POST", "/api/predict?ink=purple", "image/png", sevenPNG, 400, "ink"},

		{"422 blank png", "POST", "/api/predict", "image/png", encodePNG(t, blank(200)), 422, "no ink found"},
		{"422 blank json", "POST", "/api/predict", "application/json", pixels(make([]float64, 784)), 422, "no ink found"},
		{"422 all ink json", "POST", "/api/predict", "application/json", pixels(ones), 422, "no ink found"},

		{"405 get predict", "GET", "/api/predict", "", nil, 405, "method not allowed"},
		{"405 post model", "POST", "/api/model", "application/json", []byte(`{}`), 405, "method not allowed"},
		{"405 delete healthz", "DELETE", "/healthz", "", nil, 405, "method not allowed"},
		{"404 api", "GET", "/api/nothing", "", nil, 404, "no such API endpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.method, tc.target, tc.ctype, tc.body)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tc.errWant != "" {
				e := decodeJSON[map[string]any](t, rec.Body.Bytes())
				msg, _ := e["error"].(string)
				if len(e) != 1 || !strings.Contains(msg, tc.errWant) {
					t.Errorf("answer %s, want only an error containing %q", rec.Body, tc.errWant)
				}
				if tc.status == 405 && rec.Header().Get("Allow") == "" {
					t.Errorf("405 without an Allow header")
				}
				return
			}
			p := decodeJSON[Prediction](t, rec.Body.Bytes())
			checkPrediction(t, p)
		})
	}
}

// checkPrediction checks the shape of a successful answer.
func checkPrediction(t *testing.T, p Prediction) {
	t.Helper()
	if p.Model != "mlp-64-32" {
		t.Errorf("model %q, want mlp-64-32", p.Model)
	}
	if len(p.Probabilities) != 10 {
		t.Fatalf("%d probabilities, want 10", len(p.Probabilities))
	}
	sum, best := 0.0, 0
	for i, v := range p.Probabilities {
		if !(v >= 0 && v <= 1) {
			t.Errorf("probability %d is %v", i, v)
		}
		sum += v
		if v > p.Probabilities[best] {
			best = i
		}
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("probabilities sum to %v", sum)
	}
	if p.Digit != best {
		t.Errorf("digit %d, but the most probable class is %d (%v)", p.Digit, best, p.Probabilities)
	}
	if p.Rows != 28 || p.Cols != 28 || len(p.Input) != 784 {
		t.Fatalf("input %d×%d with %d pixels, want 28×28 with 784", p.Rows, p.Cols, len(p.Input))
	}
	inked := 0
	for _, v := range p.Input {
		if v < 0 || v > 255 {
			t.Fatalf("input pixel %d out of 0..255", v)
		}
		if v > 0 {
			inked++
		}
	}
	if inked < 20 || inked > 400 {
		t.Errorf("%d of 784 input pixels inked: not a digit", inked)
	}
}

// TestPredictSameAsCommandLine checks that the server prepares images exactly
// as `mnist predict` does (digitize.Read with the model's size) and answers
// the model's probabilities for them.
func TestPredictSameAsCommandLine(t *testing.T) {
	m := untrainedModel(t)
	s := newTestServer(t, m, Options{})
	for _, tc := range []struct {
		name, ctype string
		body        []byte
		ink         digitize.Polarity
		inverted    bool
	}{
		{"png dark on white", "image/png", encodePNG(t, drawDigit(300, strokesZero)), digitize.Auto, true},
		{"jpeg dark on white", "image/jpeg", encodeJPEG(t, drawDigit(160, strokesSeven)), digitize.Auto, true},
		{"png bright on black", "image/png", encodePNG(t, invert(drawDigit(90, strokesOne))), digitize.Auto, false},
		{"png forced bright", "image/png", encodePNG(t, invert(drawDigit(90, strokesOne))), digitize.InkBright, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := digitize.Read(bytes.NewReader(tc.body), "x", 0, digitize.Options{Rows: 28, Cols: 28, Ink: tc.ink})
			if err != nil {
				t.Fatal(err)
			}
			wantProbs, err := m.Probabilities(want.Pixels)
			if err != nil {
				t.Fatal(err)
			}
			rec := do(s, "POST", "/api/predict?ink="+tc.ink.String(), tc.ctype, tc.body)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			p := decodeJSON[Prediction](t, rec.Body.Bytes())
			for i, v := range want.Pixels {
				if p.Input[i] != int(v) {
					t.Fatalf("input pixel %d is %d, mnist predict's is %d", i, p.Input[i], v)
				}
			}
			if !slices.Equal(p.Probabilities, wantProbs) {
				t.Errorf("probabilities %v, mnist predict's %v", p.Probabilities, wantProbs)
			}
			if p.Inverted != tc.inverted || p.Inverted != want.Inverted {
				t.Errorf("inverted %v, want %v", p.Inverted, tc.inverted)
			}
		})
	}
}

func TestServerInkOption(t *testing.T) {
	m := untrainedModel(t)
	// Dark ink on white paper: read as bright ink there is no ink at all.
	body := encodePNG(t, drawDigit(90, strokesOne))
	bright := newTestServer(t, m, Options{Ink: digitize.InkBright})
	if rec := do(newTestServer(t, m, Options{}), "POST", "/api/predict", "image/png", body); rec.Code != 200 {
		t.Errorf("default server: status %d: %s", rec.Code, rec.Body)
	}
	if rec := do(bright, "POST", "/api/predict", "image/png", body); rec.Code != 422 {
		t.Errorf("server with Ink bright: status %d, want 422: %s", rec.Code, rec.Body)
	}
	if rec := do(bright, "POST", "/api/predict?ink=auto", "image/png", body); rec.Code != 200 {
		t.Errorf("server with Ink bright, request ?ink=auto: status %d, want 200: %s", rec.Code, rec.Body)
	}
}

func TestModelAndHealth(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{Ink: digitize.InkDark})
	rec := do(s, "GET", "/api/model", "", nil)
	if rec.Code != 200 {
		t.Fatalf("GET /api/model: %d %s", rec.Code, rec.Body)
	}
	got := decodeJSON[ModelInfo](t, rec.Body.Bytes())
	want := ModelInfo{Name: "mlp-64-32", Architecture: "784-64-32-10", Parameters: 784*64 + 64 + 64*32 + 32 + 32*10 + 10,
		Rows: 28, Cols: 28, Classes: 10, TestAccuracy: 0.5, Epochs: 2, Dataset: "synthetic", Optimizer: "sgd lr=0.05",
		Batch: 64, Backend: "cpu", Ink: "dark", ClassNames: []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GET /api/model\n got %+v\nwant %+v", got, want)
	}
	for _, method := range []string{"GET", "HEAD"} {
		rec = do(s, method, "/healthz", "", nil)
		if rec.Code != 200 {
			t.Errorf("%s /healthz: %d", method, rec.Code)
		}
	}
	if h := decodeJSON[map[string]string](t, do(s, "GET", "/healthz", "", nil).Body.Bytes()); h["status"] != "ok" {
		t.Errorf("GET /healthz: %v", h)
	}
}

func TestPage(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{})
	for _, tc := range []struct {
		path, ctype string
		status      int
		contains    string
	}{
		{"/", "text/html; charset=utf-8", 200, `<canvas id="canvas"`},
		{"/static/app.js", "text/javascript; charset=utf-8", 200, "/api/predict"},
		{"/static/style.css", "text/css; charset=utf-8", 200, "touch-action: none"},
		{"/static/", "", 404, ""},
		{"/static/nothing.js", "", 404, ""},
		{"/nothing", "", 404, ""},
	} {
		rec := do(s, "GET", tc.path, "", nil)
		if rec.Code != tc.status {
			t.Errorf("GET %s: status %d, want %d", tc.path, rec.Code, tc.status)
			continue
		}
		if tc.ctype != "" && rec.Header().Get("Content-Type") != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, rec.Header().Get("Content-Type"), tc.ctype)
		}
		if !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
}

// TestPageIsSelfContained checks that the embedded page loads nothing from
// another host: no CDN, no network.
func TestPageIsSelfContained(t *testing.T) {
	external := regexp.MustCompile(`(?i)(src|href|action)\s*=\s*["']?\s*(https?:)?//|url\(\s*["']?(https?:)?//|@import|fetch\(\s*["'` + "`" + `](https?:)?//`)
	n := 0
	err := fs.WalkDir(staticFiles, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := staticFiles.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if loc := external.FindIndex(b); loc != nil {
			t.Errorf("%s refers to another host: %q", path, b[loc[0]:min(len(b), loc[1]+40)])
		}
		return nil
	})
	if err != nil || n < 3 {
		t.Fatalf("walked %d embedded files: %v", n, err)
	}
}

// TestConcurrentPredictions runs many requests at once (run with -race): each
// answer must equal the answer to the same request made alone.
func TestConcurrentPredictions(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{MaxConcurrent: 3})
	bodies := [][]byte{
		encodePNG(t, drawDigit(120, strokesOne)),
		encodePNG(t, drawDigit(140, strokesSeven)),
		encodePNG(t, drawDigit(100, strokesZero)),
	}
	want := make([]string, len(bodies))
	for i, b := range bodies {
		want[i] = do(s, "POST", "/api/predict", "image/png", b).Body.String()
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 12 {
		wg.Go(func() {
			for r := range 5 {
				i := (g + r) % len(bodies)
				rec := do(s, "POST", "/api/predict", "image/png", bodies[i])
				if rec.Code != 200 || rec.Body.String() != want[i] {
					errs <- fmt.Sprintf("goroutine %d request %d: status %d, answer differs: %v", g, r, rec.Code, rec.Body.String() != want[i])
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestSlotWaitCancelled checks that a request waiting for a prediction slot
// gives up when its client does.
func TestSlotWaitCancelled(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{MaxConcurrent: 1})
	s.slots <- struct{}{} // the only slot is busy
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequestWithContext(ctx, "POST", "/api/predict", bytes.NewReader(encodePNG(t, drawDigit(50, strokesOne))))
	req.Header.Set("Content-Type", "image/png")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	<-s.slots
	if rec := do(s, "POST", "/api/predict", "image/png", encodePNG(t, drawDigit(50, strokesOne))); rec.Code != 200 {
		t.Errorf("after the slot is free: status %d", rec.Code)
	}
}

func TestLimits(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{MaxBodyBytes: 2000, MaxPixels: 100 * 100})
	small := encodePNG(t, drawDigit(100, strokesOne))
	if len(small) > 2000 {
		t.Fatalf("test image is %d bytes", len(small))
	}
	if rec := do(s, "POST", "/api/predict", "image/png", small); rec.Code != 200 {
		t.Errorf("100×100 image of %d bytes: status %d: %s", len(small), rec.Code, rec.Body)
	}
	big := encodePNG(t, blank(101)) // few bytes, too many pixels
	rec := do(s, "POST", "/api/predict", "image/png", big)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "scale it down") {
		t.Errorf("101×101 image over a 10000-pixel limit: status %d: %s", rec.Code, rec.Body)
	}
	rec = do(s, "POST", "/api/predict", "application/json", make([]byte, 2001))
	if rec.Code != 413 || !strings.Contains(rec.Body.String(), "2000 bytes") {
		t.Errorf("2001-byte body over a 2000-byte limit: status %d: %s", rec.Code, rec.Body)
	}
	for _, bad := range []Options{{MaxBodyBytes: -1}, {MaxPixels: -1}, {MaxConcurrent: -1}, {ShutdownTimeout: -1}} {
		if _, err := New(untrainedModel(t), bad); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted a nil model")
	}
}

func TestHTTPServerTimeouts(t *testing.T) {
	hs := newTestServer(t, untrainedModel(t), Options{}).HTTPServer()
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("timeouts not all set: header %v, read %v, write %v, idle %v", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
}

func TestRequestLog(t *testing.T) {
	var buf bytes.Buffer
	s := newTestServer(t, untrainedModel(t), Options{RequestLog: log.New(&buf, "", 0)})
	do(s, "GET", "/healthz", "", nil)
	do(s, "POST", "/api/predict", "text/plain", []byte("x"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "GET /healthz 200 ") || !strings.HasPrefix(lines[1], "POST /api/predict 415 ") {
		t.Errorf("request log:\n%s", buf.String())
	}
}

// seven28 is a 28×28 "7", bright ink on black in 0..255, as JSON pixels.
func seven28(t testing.TB) []float64 {
	img := invert(drawDigit(28, strokesSeven))
	v := make([]float64, len(img.Pix))
	for i, p := range img.Pix {
		v[i] = float64(p)
	}
	return v
}

func scale(v []float64, k float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * k
	}
	return out
}

// upscale repeats each pixel of a side×side image k×k times.
func upscale(v []float64, side, k int) []float64 {
	out := make([]float64, 0, len(v)*k*k)
	for y := range side * k {
		for x := range side * k {
			out = append(out, v[(y/k)*side+x/k])
		}
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
