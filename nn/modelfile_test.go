package nn_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/safetensors"
)

func TestTutorialSpec(t *testing.T) {
	s := nn.MLP(28, 28, nn.DefaultHidden, 10)
	var got []string
	for _, p := range s.Params() {
		got = append(got, fmt.Sprintf("%s%v@%d", p.Name, p.Shape, p.Offset))
	}
	want := []string{
		"model.1.weight[64 784]@0", "model.1.bias[64]@50176",
		"model.3.weight[32 64]@50240", "model.3.bias[32]@52288",
		"model.5.weight[10 32]@52320", "model.5.bias[10]@52640",
	}
	if !slices.Equal(got, want) {
		t.Errorf("parameters\n%q\nwant PyTorch's state_dict\n%q", got, want)
	}
	if s.NumParams() != 52650 || s.String() != "mlp-64-32" {
		t.Errorf("%s has %d parameters", s, s.NumParams())
	}
	// forward 52544 MACs, weight gradients 52544, input gradients 2048+320.
	if f := s.FLOPsPerSample(); f != 2*(2*52544+2368) {
		t.Errorf("FLOPs per sample %g", f)
	}
	var buf bytes.Buffer
	s.WriteSummary(&buf)
	for _, want := range []string{"model.1 (Linear)", "[-1, 64]", "50,240", "Total params: 52,650"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestParseHidden(t *testing.T) {
	for in, want := range map[string][]int{"64,32": {64, 32}, " 128 , 64 ": {128, 64}, "10": {10}, "": nil, "none": nil} {
		got, err := nn.ParseHidden(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseHidden(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"64,", "a,b", "0", "-3", "64;32", "1e3"} {
		if _, err := nn.ParseHidden(in); err == nil || !strings.Contains(err.Error(), "like 64,32") {
			t.Errorf("ParseHidden(%q): %v", in, err)
		}
	}
}

func TestInitParamsLikePyTorch(t *testing.T) {
	s := nn.MLP(28, 28, nn.DefaultHidden, 10)
	p := nn.InitParams(s, 1)
	if !slices.Equal(p, nn.InitParams(s, 1)) || slices.Equal(p, nn.InitParams(s, 2)) {
		t.Fatal("initialisation is not a function of the seed")
	}
	for _, ps := range s.Params() {
		bound := 1 / math.Sqrt(float64(ps.FanIn))
		var maxAbs, sum float64
		for _, v := range p[ps.Offset : ps.Offset+ps.Size()] {
			maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
			sum += float64(v)
		}
		mean := sum / float64(ps.Size())
		// Uniform on ±bound: max near bound, mean near 0 (σ/√n).
		if maxAbs > bound || maxAbs < 0.9*bound || math.Abs(mean) > 4*bound/math.Sqrt(3*float64(ps.Size())) {
			t.Errorf("%s: max |w| %.4f, mean %.5f for bound %.4f", ps.Name, maxAbs, mean, bound)
		}
	}
}

func TestModelFileRoundTrip(t *testing.T) {
	s := nn.MLP(28, 28, []int{20, 12}, 10)
	params := nn.InitParams(s, 3)
	info := nn.ModelInfo{Spec: s, Norm: nn.MNISTNormalization, Dataset: "data", Epochs: 4, TestAccuracy: 0.9731, Seed: 3, Optimizer: "sgd lr=0.05"}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := nn.SaveModel(path, params, info); err != nil {
		t.Fatal(err)
	}
	got, gotInfo, err := nn.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, params) || gotInfo.Spec.String() != s.String() || gotInfo.TestAccuracy != 0.9731 || gotInfo.Norm != info.Norm {
		t.Errorf("round trip: %+v", gotInfo)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"architecture": "mlp-20-12", "test_accuracy": "0.9731", "epochs": "4", "input": "28x28"} {
		if f.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, f.Metadata[k], v)
		}
	}
	if _, err := nn.LoadCheckpoint(path); err == nil || !strings.Contains(err.Error(), "not a training checkpoint") {
		t.Errorf("a model file as a checkpoint: %v", err)
	}
}

// A state_dict saved by PyTorch's safetensors has no metadata of ours: the
// architecture comes from the tensor shapes.
func TestLoadPyTorchStateDict(t *testing.T) {
	s := nn.MLP(28, 28, []int{64, 32}, 10)
	params := nn.InitParams(s, 5)
	var ts []safetensors.Tensor
	for _, p := range s.Params() {
		ts = append(ts, safetensors.FromFloat32s(p.Name, p.Shape, params[p.Offset:p.Offset+p.Size()]))
	}
	path := filepath.Join(t.TempDir(), "torch.safetensors")
	if err := safetensors.WriteFile(path, &safetensors.File{Tensors: ts}); err != nil {
		t.Fatal(err)
	}
	got, info, err := nn.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Spec.String() != "mlp-64-32" || info.Spec.Rows != 28 || !slices.Equal(got, params) {
		t.Errorf("inferred %s %d×%d", info.Spec, info.Spec.Rows, info.Spec.Cols)
	}
}

func TestLoadModelRefusals(t *testing.T) {
	dir := t.TempDir()
	s := nn.MLP(28, 28, []int{64, 32}, 10)
	write := func(name string, f *safetensors.File) string {
		path := filepath.Join(dir, name)
		if err := safetensors.WriteFile(path, f); err != nil {
			t.Fatal(err)
		}
		return path
	}
	good := func(edit func(name string, v []float32) ([]int, []float32)) []safetensors.Tensor {
		p := nn.InitParams(s, 1)
		var ts []safetensors.Tensor
		for _, ps := range s.Params() {
			shape, v := ps.Shape, p[ps.Offset:ps.Offset+ps.Size()]
			if edit != nil {
				if sh, nv := edit(ps.Name, v); sh != nil {
					shape, v = sh, nv
				}
			}
			ts = append(ts, safetensors.FromFloat32s(ps.Name, shape, v))
		}
		return ts
	}
	meta := map[string]string{"mnist_go": `{"spec":{"Model":"mlp","Rows":28,"Cols":28,"Hidden":[64,32],"Classes":10}}`}
	for name, tc := range map[string]struct {
		file *safetensors.File
		want string
	}{
		"wrong shape": {&safetensors.File{Metadata: meta, Tensors: good(func(n string, v []float32) ([]int, []float32) {
			if n == "model.3.weight" {
				return []int{64, 32}, v
			}
			return nil, nil
		})}, "model.3.weight: shape [64 32], want [32 64]"},
		"missing tensor": {&safetensors.File{Metadata: meta, Tensors: good(nil)[:4]}, "model.5.weight: no such tensor"},
		"nan weight": {&safetensors.File{Metadata: meta, Tensors: good(func(n string, v []float32) ([]int, []float32) {
			if n == "model.1.bias" {
				v = slices.Clone(v)
				v[3] = float32(math.NaN())
				return []int{64}, v
			}
			return nil, nil
		})}, "diverged"},
		"bad metadata": {&safetensors.File{Metadata: map[string]string{"mnist_go": "{"}, Tensors: good(nil)}, "metadata mnist_go is not valid"},
		"no mlp":       {&safetensors.File{Tensors: []safetensors.Tensor{safetensors.FromFloat32s("w", []int{2}, []float32{1, 2})}}, "holds no model.<n>.weight"},
	} {
		_, _, err := nn.LoadModel(write(strings.ReplaceAll(name, " ", "-")+".safetensors", tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// The host classifier used by predict and serve agrees with the backend's
// evaluation, sample by sample.
func TestClassifierMatchesEvaluation(t *testing.T) {
	tn, _ := train(t, cpuBackend(t), config("sgd", 2))
	params, err := tn.Model.ParamsHost()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := tn.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	c, err := nn.NewClassifier(params, nn.ModelInfo{Spec: spec(), Norm: nn.MNISTNormalization})
	if err != nil {
		t.Fatal(err)
	}
	test := tn.Test.Source
	agree := 0
	for i := 0; i < test.Len(); i++ {
		probs, err := c.Probabilities(test.Image(i))
		if err != nil {
			t.Fatal(err)
		}
		if nn.Top(probs, 1)[0].Class == int(ev.Predictions[i]) {
			agree++
		}
		var sum float64
		for _, p := range probs {
			sum += p
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Fatalf("probabilities sum to %v", sum)
		}
	}
	// Float32 sums in another order may flip a near tie, rarely.
	if agree < test.Len()-2 {
		t.Errorf("classifier and evaluation agree on %d of %d samples", agree, test.Len())
	}
}

// A flipped bit anywhere in the tensor data of a file we wrote is caught by
// the recorded digest, in model files and checkpoints alike.
func TestDamagedFilesAreRefused(t *testing.T) {
	tn, _ := train(t, cpuBackend(t), config("sgd", 1))
	dir := t.TempDir()
	model, ckpt := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.ckpt.safetensors")
	params, _ := tn.Model.ParamsHost()
	info := nn.ModelInfo{Spec: spec()}
	if err := nn.SaveModel(model, params, info); err != nil {
		t.Fatal(err)
	}
	ck, err := tn.Capture(info)
	if err != nil {
		t.Fatal(err)
	}
	if err := nn.SaveCheckpoint(ckpt, ck); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{model, ckpt} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []int{len(raw) - 1, len(raw) - 5000, len(raw) / 2} {
			bad := slices.Clone(raw)
			bad[at] ^= 0x10
			damaged := filepath.Join(dir, "damaged.safetensors")
			if err := os.WriteFile(damaged, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := nn.LoadModel(damaged)
			if path == ckpt {
				_, err = nn.LoadCheckpoint(damaged)
			}
			if err == nil || !strings.Contains(err.Error(), "is damaged") {
				t.Errorf("%s with byte %d of %d flipped: %v", filepath.Base(path), at, len(raw), err)
			}
		}
	}
}
