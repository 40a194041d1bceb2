package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/cmd/mnist/internal/web"
	"github.com/mnist-go/mnist/mnist"
	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
)

// TestOtherDataSets takes data sets that are not ten digits of 28×28
// through info, train, eval, predict and serve: 3, 26 and 47 classes of
// 20×20 and 32×32 images, labels from 0 or from 1, with and without names.
func TestOtherDataSets(t *testing.T) {
	letters := make([]string, 26)
	for i := range letters {
		letters[i] = string(rune('a'+i)) + "-letter"
	}
	for _, c := range []struct {
		name       string
		classes    int
		rows, cols int
		firstLabel int
		names      []string
		args       []string
	}{
		{"3 named classes of 20×20", 3, 20, 20, 0, []string{"circle", "cross", "wave"}, []string{"--epochs", "4"}},
		{"26 letters of 32×32 numbered from 1", 26, 32, 32, 1, letters, []string{"--epochs", "3"}},
		{"47 classes of 32×32", 47, 32, 32, 0, nil, []string{"--epochs", "3"}},
		{"cnn on 26 classes of 20×20", 26, 20, 20, 0, nil, []string{"--model", "cnn", "--epochs", "1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			nTrain, nTest := 40*c.classes, 4*c.classes
			if slices.Contains(c.args, "cnn") {
				nTrain = 10 * c.classes
			}
			mnisttest.SyntheticClasses(t, data, nTrain, nTest, c.rows, c.cols, c.classes, c.firstLabel, 7)
			var classArgs []string
			if c.names != nil {
				path := filepath.Join(dir, "classes.txt")
				if err := os.WriteFile(path, []byte(strings.Join(c.names, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				classArgs = []string{"--classes", path}
			}
			name := func(k int) string {
				if c.names != nil {
					return c.names[k]
				}
				return fmt.Sprint(k + c.firstLabel)
			}

			info := mustInproc(t, append([]string{"--data-dir", data, "info"}, classArgs...)...)
			wantInfo := fmt.Sprintf("classes %d (labels %d to %d)", c.classes, c.firstLabel, c.firstLabel+c.classes-1)
			if !strings.Contains(info.stdout, wantInfo) || !strings.Contains(info.stdout, " "+name(c.classes-1)+":") {
				t.Errorf("info does not say %q and count %q:\n%s", wantInfo, name(c.classes-1), info.stdout)
			}

			model := filepath.Join(dir, "model.safetensors")
			args := append([]string{"--data-dir", data, "train", "--backend", "cpu", "--json", "--logdir", filepath.Join(dir, "run"), "--out", model}, c.args...)
			r := mustInproc(t, append(args, classArgs...)...)
			said := strings.Contains(r.stderr, "labels run from 1 to 26, none is 0")
			if said != (c.firstLabel == 1) {
				t.Errorf("labels from %d: the renumbering was said %v:\n%s", c.firstLabel, said, r.stderr)
			}
			j := parseTrainJSON(t, r)
			acc := j.TestAccuracy[len(j.TestAccuracy)-1]
			if acc < 2.0/float64(c.classes) {
				t.Errorf("test accuracy %.3f, want at least twice chance (%.3f)", acc, 1/float64(c.classes))
			}
			_, mi, err := nn.LoadModel(model)
			if err != nil {
				t.Fatal(err)
			}
			if mi.Spec.Classes != c.classes || mi.Spec.Rows != c.rows || mi.Spec.Cols != c.cols || mi.LabelBase != c.firstLabel || !slices.Equal(mi.ClassNames, c.names) {
				t.Errorf("model file: %d classes of %d×%d, label base %d, names %q", mi.Spec.Classes, mi.Spec.Rows, mi.Spec.Cols, mi.LabelBase, mi.ClassNames)
			}

			ev := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model, "--json")
			var rep evalReport
			if err := json.Unmarshal([]byte(ev.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Samples != nTest || len(rep.Confusion) != c.classes || len(rep.Classes) != c.classes || rep.Classes[c.classes-1] != name(c.classes-1) || float32(rep.Accuracy) != float32(acc) {
				t.Errorf("eval: %d samples, %d×? confusion, classes %q, accuracy %v (training said %v)", rep.Samples, len(rep.Confusion), rep.Classes, rep.Accuracy, acc)
			}
			checkConfusion(t, rep)
			text := mustInproc(t, "--data-dir", data, "eval", "--backend", "cpu", "--model", model)
			if !strings.Contains(text.stdout, name(c.classes-1)+"  ") {
				t.Errorf("eval does not name class %q:\n%s", name(c.classes-1), text.stdout)
			}

			test, err := mnist.Load(data, mnist.Test)
			if err != nil {
				t.Fatal(err)
			}
			var img bytes.Buffer
			if err := png.Encode(&img, render(test.Image(1), test.Rows, test.Cols, 4, "black on white", rand.New(rand.NewPCG(1, 2)))); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "sample.png")
			if err := os.WriteFile(path, img.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			pr := mustInproc(t, "predict", "--model", model, "--json", path)
			var p prediction
			if err := json.Unmarshal([]byte(pr.stdout), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Probabilities) != c.classes || p.Digit < 0 || p.Digit >= c.classes || p.Class != name(p.Digit) || p.Top[0].Name != p.Class {
				t.Errorf("predict: %+v", p)
			}
			if text := mustInproc(t, "predict", "--model", model, path); !strings.HasPrefix(text.stdout, path+": "+p.Class+"   (") {
				t.Errorf("predict prints %q, want the class %q", text.stdout, p.Class)
			}

			clf, err := nn.LoadClassifier(model)
			if err != nil {
				t.Fatal(err)
			}
			s, err := web.New(clf, web.Options{})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("POST", "/api/predict", bytes.NewReader(img.Bytes()))
			req.Header.Set("Content-Type", "image/png")
			req.Host = "localhost"
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			var sp web.Prediction
			if err := json.Unmarshal(rec.Body.Bytes(), &sp); rec.Code != http.StatusOK || err != nil {
				t.Fatalf("serve: %d %s", rec.Code, rec.Body)
			}
			if sp.Digit != p.Digit || sp.Class != p.Class || len(sp.Probabilities) != c.classes || sp.Rows != c.rows || sp.Cols != c.cols {
				t.Errorf("serve: class %d %q, %d probabilities, input %d×%d; predict said %d %q", sp.Digit, sp.Class, len(sp.Probabilities), sp.Rows, sp.Cols, p.Digit, p.Class)
			}
			rec = httptest.NewRecorder()
			req = httptest.NewRequest("GET", "/api/model", nil)
			req.Host = "localhost"
			s.ServeHTTP(rec, req)
			var wm web.ModelInfo
			if err := json.Unmarshal(rec.Body.Bytes(), &wm); err != nil || wm.Classes != c.classes || len(wm.ClassNames) != c.classes || wm.ClassNames[0] != name(0) {
				t.Errorf("serve /api/model: %s", rec.Body)
			}
		})
	}
}

// Class names and label numbering that do not fit the data are refused
// with the reason.
func TestClassesRefused(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mnisttest.SyntheticClasses(t, data, 60, 20, 12, 12, 5, 1, 3) // labels 1 to 5
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--classes", write("four.txt", "a\nb\nc\nd\n")}, "names 4 classes but the labels go up to 5 (class 4)"},
		{[]string{"--classes", write("dup.txt", "a\nb\na\nd\ne\n")}, `classes 0 and 2 are both named "a"`},
		{[]string{"--classes", write("hole.txt", "a\n\nc\nd\ne\n")}, "class 1 has an empty name"},
		{[]string{"--classes", filepath.Join(dir, "none.txt")}, "none.txt: no such file"},
		{[]string{"--label-base", "2"}, "label 1 of sample 0 is below the label base 2"},
		{[]string{"--label-base", "x"}, `--label-base "x": want auto or a label from 0 to 255`},
	} {
		r := inproc(t.Context(), append([]string{"--data-dir", data, "train", "--backend", "cpu", "--epochs", "1", "--logdir", "none", "--out", filepath.Join(dir, "m.safetensors")}, c.args...)...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("train %v: %v, want an error saying %q", c.args, r, c.want)
		}
	}
	// --label-base 0 keeps the labels: six classes, class 0 never seen.
	r := mustInproc(t, "--data-dir", data, "info", "--label-base", "0", "--json")
	var s dataSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || s.Classes != 6 || s.LabelBase != 0 || s.Train.Labels[0] != 0 {
		t.Errorf("info --label-base 0: %+v (%v)", s, err)
	}
}
