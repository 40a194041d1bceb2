package tfevents

import (
	"encoding/json"
	"image"
	"os/exec"
	"reflect"
	"testing"
	"time"
)

// tbOutput is what testdata/check_tb.py prints.
type tbOutput struct {
	Tags    map[string]any          `json:"tags"`
	Scalars map[string][][3]float64 `json:"scalars"`
	Images  map[string][]struct {
		Step          int64 `json:"step"`
		Width, Height int
		PNG           bool `json:"png"`
	} `json:"images"`
	Tensors map[string][]struct {
		Step    int64    `json:"step"`
		Dtype   int      `json:"dtype"`
		Strings []string `json:"strings"`
	} `json:"tensors"`
	TextTags   []string `json:"text_tags"`
	Histograms map[string][]struct {
		Step    int64   `json:"step"`
		Min     float64 `json:"min"`
		Max     float64 `json:"max"`
		Num     float64 `json:"num"`
		Buckets int     `json:"buckets"`
	} `json:"histograms"`
	Graph []struct {
		Name   string   `json:"name"`
		Op     string   `json:"op"`
		Inputs []string `json:"inputs"`
		Shape  []int64  `json:"shape"`
	} `json:"graph"`
	HParams struct {
		Experiment struct {
			HParams map[string]int `json:"hparams"`
			Metrics []string       `json:"metrics"`
		} `json:"experiment"`
		Start     map[string]any `json:"start"`
		EndStatus int            `json:"end_status"`
	} `json:"hparams"`
}

// TestTensorBoardReads loads a run with TensorBoard's own EventAccumulator
// (testdata/check_tb.py) and checks the tags and values. It needs python3
// with the tensorboard package and skips without them.
func TestTensorBoardReads(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; TensorBoard cross-check skipped")
	}
	if out, err := exec.Command(py, "-c", "import tensorboard").CombinedOutput(); err != nil {
		t.Skipf("python3 cannot import tensorboard (%v: %s); TensorBoard cross-check skipped", err, lastLine(out))
	}
	dir := t.TempDir()
	w, err := create(dir, config{now: fixedClock(time.Unix(1700000000, 0))})
	if err != nil {
		t.Fatal(err)
	}
	losses := []float64{2.3, 1.1, 0.5}
	for i, l := range losses {
		must(t, w.Scalar("train/loss", int64(i+1), l))
	}
	must(t, w.Scalar("test/accuracy", 1, 0.9712))
	must(t, w.Image("train/digits", 0, image.NewGray(image.Rect(0, 0, 60, 30))))
	must(t, w.Text("hparams", 0, "| lr | 0.005 |"))
	must(t, w.Graph(testGraph))
	must(t, w.Histogram("fc1.weight", 2, []float32{-1, 0, 0.5, 1}))
	hp := map[string]any{"lr": 0.005, "optimizer": "sgd", "augment": true}
	must(t, w.HParams(hp, []string{"test/accuracy"}))
	must(t, w.HParamsEnd(StatusSuccess))
	must(t, w.Close())

	out, err := exec.Command(py, "testdata/check_tb.py", dir).Output()
	if err != nil {
		t.Fatalf("check_tb.py: %v", err)
	}
	var got tbOutput
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("check_tb.py output: %v\n%s", err, out)
	}
	var wantLoss [][3]float64
	for i, l := range losses {
		wantLoss = append(wantLoss, [3]float64{float64(i + 1), 0, float64(float32(l))})
	}
	gotLoss := got.Scalars["train/loss"]
	for i := range gotLoss {
		gotLoss[i][1] = 0 // wall times are checked by our own reader's tests
	}
	if !reflect.DeepEqual(gotLoss, wantLoss) {
		t.Errorf("train/loss = %v, want %v", gotLoss, wantLoss)
	}
	if acc := got.Scalars["test/accuracy"]; len(acc) != 1 || acc[0][2] != float64(float32(0.9712)) {
		t.Errorf("test/accuracy = %v", acc)
	}
	if img := got.Images["train/digits"]; len(img) != 1 || img[0].Width != 60 || img[0].Height != 30 || !img[0].PNG {
		t.Errorf("train/digits = %+v, want one 60x30 PNG", img)
	}
	if txt := got.Tensors["hparams"]; len(txt) != 1 || txt[0].Dtype != dtString || !reflect.DeepEqual(txt[0].Strings, []string{"| lr | 0.005 |"}) {
		t.Errorf("hparams = %+v", txt)
	}
	if !reflect.DeepEqual(got.TextTags, []string{"hparams"}) {
		t.Errorf("text plugin tags = %v, want [hparams]", got.TextTags)
	}
	if len(got.Graph) != len(testGraph.Nodes) {
		t.Errorf("graph has %d nodes, want %d: %+v", len(got.Graph), len(testGraph.Nodes), got.Graph)
	} else {
		for i, n := range testGraph.Nodes {
			g := got.Graph[i]
			if g.Name != n.Name || g.Op != n.Op || !reflect.DeepEqual(g.Shape, n.Shape) || len(g.Inputs) != len(n.Inputs) {
				t.Errorf("graph node %d = %+v, want %+v", i, g, n)
			}
		}
	}
	if h := got.Histograms["fc1.weight"]; len(h) != 1 || h[0].Step != 2 || h[0].Min != -1 || h[0].Max != 1 || h[0].Num != 4 || h[0].Buckets != HistogramBuckets {
		t.Errorf("fc1.weight histogram = %+v", h)
	}
	wantTypes := map[string]int{"lr": int(HParamFloat64), "optimizer": int(HParamString), "augment": int(HParamBool)}
	if !reflect.DeepEqual(got.HParams.Experiment.HParams, wantTypes) || !reflect.DeepEqual(got.HParams.Experiment.Metrics, []string{"test/accuracy"}) {
		t.Errorf("hparams experiment = %+v", got.HParams.Experiment)
	}
	if !reflect.DeepEqual(got.HParams.Start, hp) || got.HParams.EndStatus != int(StatusSuccess) {
		t.Errorf("hparams session = %v, end status %d; want %v, %d", got.HParams.Start, got.HParams.EndStatus, hp, StatusSuccess)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lastLine(b []byte) string {
	s := string(b)
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			return s[i+1:]
		}
	}
	return s
}
