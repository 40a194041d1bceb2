package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mnist-go/mnist/mnist/digitize"
	"github.com/mnist-go/mnist/nn"
)

// Prediction is the answer of POST /api/predict.
type Prediction struct {
	Digit         int       `json:"digit"`         // the class's index, 0-based
	Class         string    `json:"class"`         // its name: the model's, or its label
	Probabilities []float64 `json:"probabilities"` // one per class, summing to 1
	Model         string    `json:"model"`         // e.g. "mlp-64-32"
	// Input is the Rows×Cols image the model saw, row-major, 0 background
	// to 255 ink: what digitize made of the request.
	Input    []int `json:"input"`
	Rows     int   `json:"rows"`
	Cols     int   `json:"cols"`
	Inverted bool  `json:"inverted"` // the image had dark ink on light paper
}

// PixelsRequest is the JSON body of POST /api/predict: Width×Height grey
// levels in row-major order, 0..1 or 0..255 (see digitize.FromPixels).
// Width and Height default to the model's input size (28×28: 784 values).
type PixelsRequest struct {
	Pixels []float64 `json:"pixels"`
	Width  int       `json:"width,omitempty"`
	Height int       `json:"height,omitempty"`
}

// ModelInfo is the answer of GET /api/model, from the checkpoint's metadata.
type ModelInfo struct {
	Name         string   `json:"name"`         // e.g. "mlp-64-32"
	Architecture string   `json:"architecture"` // layer widths, e.g. "784-64-32-10" or "28×28-conv32-pool-conv64-pool-1024-128-10"
	Parameters   int      `json:"parameters"`
	Rows         int      `json:"rows"`
	Cols         int      `json:"cols"`
	Classes      int      `json:"classes"`
	ClassNames   []string `json:"class_names"`             // one per class: the model's names, or the labels
	TestAccuracy float64  `json:"test_accuracy,omitempty"` // 0..1; absent for an untrained model
	TestLoss     float64  `json:"test_loss,omitempty"`
	Epochs       int      `json:"epochs,omitempty"`
	Dataset      string   `json:"dataset,omitempty"`
	Optimizer    string   `json:"optimizer,omitempty"`
	Batch        int      `json:"batch,omitempty"`
	Backend      string   `json:"backend,omitempty"`
	Ink          string   `json:"ink"` // the server's default polarity: auto, dark or bright
}

// apiError is every error answer: {"error": "..."}.
type apiError struct {
	Error string `json:"error"`
}

// httpError is an error with the status it answers.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *httpError {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

// classNames names every class of the model described by info.
func classNames(info nn.ModelInfo) []string {
	names := make([]string, info.Spec.Classes)
	for i := range names {
		names[i] = info.ClassName(i)
	}
	return names
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "model": s.name})
}

func (s *Server) modelInfo(w http.ResponseWriter, r *http.Request) {
	info := s.model.Info
	spec := info.Spec
	widths := []string{strconv.Itoa(spec.Inputs())}
	for _, h := range spec.Hidden {
		widths = append(widths, strconv.Itoa(h))
	}
	widths = append(widths, strconv.Itoa(spec.Classes))
	arch := strings.Join(widths, "-")
	if spec.Model != "mlp" {
		// The layers, e.g. "28×28-conv32-pool-conv64-pool-1024-128-10".
		parts := []string{fmt.Sprintf("%d×%d", spec.Rows, spec.Cols)}
		for _, l := range spec.Summary() {
			switch l.Type {
			case "Conv2d":
				parts = append(parts, fmt.Sprintf("conv%d", l.Output[0]))
			case "MaxPool2d":
				parts = append(parts, "pool")
			case "Flatten", "Linear":
				parts = append(parts, strconv.Itoa(l.Output[0]))
			}
		}
		arch = strings.Join(parts, "-")
	}
	writeJSON(w, http.StatusOK, ModelInfo{
		Name:         s.name,
		Architecture: arch,
		Parameters:   spec.NumParams(),
		Rows:         spec.Rows,
		Cols:         spec.Cols,
		Classes:      spec.Classes,
		ClassNames:   classNames(info),
		TestAccuracy: info.TestAccuracy,
		TestLoss:     info.TestLoss,
		Epochs:       info.Epochs,
		Dataset:      datasetName(info.Dataset),
		Optimizer:    info.Optimizer,
		Batch:        info.Batch,
		Backend:      info.Backend,
		Ink:          s.opt.Ink.String(),
	})
}

// datasetName is the last element of the data directory a model records:
// its name ("data", "fashion-mnist"), never a path of this machine's file
// system (older model files record the directory as given).
func datasetName(dir string) string {
	if dir == "" {
		return ""
	}
	return filepath.Base(filepath.Clean(filepath.FromSlash(strings.ReplaceAll(dir, `\`, "/"))))
}

// predict answers POST /api/predict: a PNG or JPEG image, or JSON pixels,
// prepared as `mnist predict` prepares files and run through the model.
func (s *Server) predict(w http.ResponseWriter, r *http.Request) {
	p, err := s.prediction(w, r)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{http.StatusInternalServerError, err.Error()}
		}
		writeJSON(w, he.status, apiError{he.msg})
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// bodyKind is what a Content-Type announces.
type bodyKind int

const (
	imageBody bodyKind = iota + 1
	pixelsBody
)

func (s *Server) prediction(w http.ResponseWriter, r *http.Request) (*Prediction, error) {
	kind, wantFormat, err := parseContentType(r.Header.Get("Content-Type"))
	if err != nil {
		return nil, err
	}
	ink := s.opt.Ink
	if q := r.URL.Query().Get("ink"); q != "" {
		if ink, err = digitize.ParsePolarity(q); err != nil {
			return nil, errorf(http.StatusBadRequest, "query parameter ink: %v", err)
		}
	}
	// A slot is taken before the body is read: reading, decoding and the
	// model all hold memory, so that the slots bound the memory of requests
	// in flight (MaxConcurrent × MaxBodyBytes for bodies), not only the CPU.
	// It waits for a free slot for at most QueueTimeout, or until the client
	// gives up.
	wait := time.NewTimer(s.opt.QueueTimeout)
	defer wait.Stop()
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-wait.C:
		w.Header().Set("Retry-After", "1")
		return nil, errorf(http.StatusServiceUnavailable, "the server is busy: %d requests were running for %s: try again", cap(s.slots), s.opt.QueueTimeout)
	case <-r.Context().Done():
		return nil, errorf(http.StatusServiceUnavailable, "request cancelled while waiting for a free slot: %v", r.Context().Err())
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge,
				"request body is larger than the limit of %s: send a smaller image (the digit is scaled to 20 pixels anyway)", byteSize(tooBig.Limit))
		}
		return nil, errorf(http.StatusBadRequest, "read the request body: %v", err)
	}

	var img image.Image
	switch kind {
	case imageBody:
		var format string
		img, format, err = digitize.Decode(bytes.NewReader(body), "image", s.opt.MaxPixels)
		if err != nil {
			return nil, errorf(http.StatusBadRequest, "%v", err)
		}
		if format != wantFormat {
			return nil, errorf(http.StatusUnsupportedMediaType,
				"the body is a %s image but Content-Type says image/%s: send PNG or JPEG with its own type", strings.ToUpper(format), wantFormat)
		}
	case pixelsBody:
		if img, err = s.decodePixels(body); err != nil {
			return nil, err
		}
	}
	spec := s.model.Info.Spec
	res, err := digitize.Digitize(img, digitize.Options{Rows: spec.Rows, Cols: spec.Cols, Ink: ink})
	if errors.Is(err, digitize.ErrBlank) {
		return nil, errorf(http.StatusUnprocessableEntity, "%v: draw a digit first", err)
	}
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	probs, err := s.model.Probabilities(res.Pixels)
	if err != nil {
		return nil, fmt.Errorf("run the model: %w", err)
	}
	input := make([]int, len(res.Pixels))
	for i, v := range res.Pixels {
		input[i] = int(v)
	}
	best := nn.Top(probs, 1)[0].Class
	return &Prediction{
		Digit:         best,
		Class:         s.model.Info.ClassName(best),
		Probabilities: probs,
		Model:         s.name,
		Input:         input,
		Rows:          res.Rows,
		Cols:          res.Cols,
		Inverted:      res.Inverted,
	}, nil
}

// decodePixels reads a PixelsRequest into a grey image.
func (s *Server) decodePixels(body []byte) (image.Image, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var req PixelsRequest
	if err := dec.Decode(&req); err != nil {
		return nil, errorf(http.StatusBadRequest, "malformed JSON body: %v (want {\"pixels\": [784 numbers]})", err)
	}
	if dec.More() {
		return nil, errorf(http.StatusBadRequest, "malformed JSON body: more than one JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf(http.StatusBadRequest, "malformed JSON body: data after the JSON object")
	}
	spec := s.model.Info.Spec
	w, h := req.Width, req.Height
	if w == 0 && h == 0 {
		w, h = spec.Cols, spec.Rows
	}
	if req.Pixels == nil {
		return nil, errorf(http.StatusBadRequest, "JSON body has no \"pixels\": want {\"pixels\": [%d numbers]}", w*h)
	}
	img, err := digitize.FromPixels(req.Pixels, w, h)
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return img, nil
}

// parseContentType accepts image/png, image/jpeg and application/json (with
// an optional UTF-8 charset) and says what to expect in the body; anything
// else is a 415.
func parseContentType(ct string) (bodyKind, string, error) {
	const want = "send image/png, image/jpeg or application/json"
	if ct == "" {
		return 0, "", errorf(http.StatusUnsupportedMediaType, "no Content-Type: %s", want)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return 0, "", errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %v: %s", ct, err, want)
	}
	switch mt {
	case "image/png":
		return imageBody, "png", nil
	case "image/jpeg":
		return imageBody, "jpeg", nil
	case "application/json":
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			return 0, "", errorf(http.StatusUnsupportedMediaType, "Content-Type %q: JSON must be UTF-8", ct)
		}
		return pixelsBody, "", nil
	}
	return 0, "", errorf(http.StatusUnsupportedMediaType, "Content-Type %q: %s", mt, want)
}

// apiFallback answers API paths that match no route: 405 with Allow for a
// known path and the wrong method, else 404, both as JSON.
func apiFallback(w http.ResponseWriter, r *http.Request) {
	allow := map[string]string{"/api/predict": "POST", "/api/model": "GET, HEAD", "/healthz": "GET, HEAD"}
	if a, ok := allow[r.URL.Path]; ok {
		w.Header().Set("Allow", a)
		writeJSON(w, http.StatusMethodNotAllowed, apiError{fmt.Sprintf("%s %s: method not allowed (use %s)", r.Method, r.URL.Path, a)})
		return
	}
	writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("%s: no such API endpoint (have POST /api/predict, GET /api/model, GET /healthz)", r.URL.Path)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(apiError{"encode the answer: " + err.Error()})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// byteSize renders a byte count for messages: "1 MiB", "512 KiB", "100 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
