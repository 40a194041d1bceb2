package web

import (
	"path/filepath"
	"testing"

	"github.com/mnist-go/mnist/mnist/digitize"
	"github.com/mnist-go/mnist/nn"
)

// TestCNNModel serves a cnn: /api/model names it and describes its
// layers, and its classifier answers with ten probabilities.
func TestCNNModel(t *testing.T) {
	spec := nn.CNN(28, 28, 10)
	path := filepath.Join(t.TempDir(), "cnn.safetensors")
	if err := nn.SaveModel(path, nn.InitParams(spec, 3), nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}); err != nil {
		t.Fatal(err)
	}
	m, err := nn.LoadClassifier(path)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, m, Options{Ink: digitize.InkDark})
	rec := do(s, "GET", "/api/model", "", nil)
	if rec.Code != 200 {
		t.Fatalf("GET /api/model: %d %s", rec.Code, rec.Body)
	}
	got := decodeJSON[ModelInfo](t, rec.Body.Bytes())
	if got.Name != "cnn" || got.Architecture != "28×28-conv32-pool-conv64-pool-1024-128-10" || got.Parameters != spec.NumParams() {
		t.Errorf("GET /api/model: %+v", got)
	}
	probs, err := m.Probabilities(make([]uint8, 28*28))
	if err != nil || len(probs) != 10 {
		t.Fatalf("Probabilities: %v, %v", probs, err)
	}
}
