package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
)

// pythonWithTorch returns a Python interpreter that can import torch:
// $MNIST_PYTHON, else python3 on the PATH, else /usr/bin/python3 (Debian's,
// where python3-torch installs). It skips the test when there is none.
func pythonWithTorch(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("MNIST_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3")
	for _, p := range candidates {
		if exec.Command(p, "-c", "import torch, numpy").Run() == nil {
			return p
		}
	}
	t.Skipf("no Python with torch and numpy among %v (set MNIST_PYTHON)", candidates)
	return ""
}

// TestTutorialScript runs bench/pytorch/tutorial.py on a small synthetic
// data set and checks that it prints what `mnist bench --json` prints: the
// same top-level keys and, per result, the same keys as Result, with a
// plausible run.
func TestTutorialScript(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PyTorch: skipped under -short")
	}
	py := pythonWithTorch(t)
	dir := t.TempDir()
	mnisttest.Synthetic(t, dir, 64*5+10, 200, 28, 28, 3)
	baseline := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(baseline, []byte(`{"results":[{"backend":"gorgonia","ms_per_epoch":{"median":1000}}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, filepath.Join("pytorch", "tutorial.py"), "--data-dir", dir, "--device", "cpu",
		"--runs", "2", "--warmup", "1", "--baseline", baseline)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tutorial.py: %v\n%s", err, stderr.String())
	}

	var got map[string]json.RawMessage
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("tutorial.py printed no JSON object: %v\n%s", err, stdout.String())
	}
	checkKeys(t, "top-level", keysOf(got), Report{})
	var rep struct {
		TrainSamples int                          `json:"train_samples"`
		Results      []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 2 {
		t.Fatalf("%d results, want one per mode (dataloader, resident)", len(rep.Results))
	}
	for _, row := range rep.Results {
		checkKeys(t, "result", keysOf(row), Result{})
		var r Result
		raw, _ := json.Marshal(row)
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("result does not decode as a Result: %v", err)
		}
		ms := r.MsPerEpoch
		if !(ms.Min > 0 && ms.Min <= ms.Median && ms.Median <= ms.Max) || len(r.RunsMs) != 2 {
			t.Errorf("%s: ms per epoch %+v from runs %v", r.Backend, ms, r.RunsMs)
		}
		if want := float64(rep.TrainSamples) / (ms.Median / 1000); !(r.SamplesPerSecond > 0.999*want && r.SamplesPerSecond < 1.001*want) {
			t.Errorf("%s: %g samples/s, want %g", r.Backend, r.SamplesPerSecond, want)
		}
		if r.SpeedupVsGorg == nil || !(*r.SpeedupVsGorg > 0.999*1000/ms.Median && *r.SpeedupVsGorg < 1.001*1000/ms.Median) {
			t.Errorf("%s: speed-up %v against a 1000 ms gorgonia baseline at %g ms", r.Backend, r.SpeedupVsGorg, ms.Median)
		}
		if !(r.TestAccuracy >= 0 && r.TestAccuracy <= 1) || !(r.TrainLoss > 0) {
			t.Errorf("%s: test accuracy %g, train loss %g", r.Backend, r.TestAccuracy, r.TrainLoss)
		}
	}
}

// checkKeys reports keys that v (a struct) always encodes but got lacks,
// and keys in got that v never encodes.
func checkKeys(t *testing.T, what string, got []string, v any) {
	t.Helper()
	known := map[string]bool{}
	rt := reflect.TypeOf(v)
	for i := 0; i < rt.NumField(); i++ {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		known[name] = true
		if opts != "omitempty" && !slices.Contains(got, name) {
			t.Errorf("%s keys %v lack %q, which mnist bench --json prints", what, got, name)
		}
	}
	for _, k := range got {
		if !known[k] {
			t.Errorf("%s key %q is not one that mnist bench --json prints", what, k)
		}
	}
}

func keysOf(m map[string]json.RawMessage) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
