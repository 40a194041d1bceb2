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
	TextTags []string `json:"text_tags"`
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
