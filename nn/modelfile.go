package nn

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mnist-go/mnist/nn/safetensors"
)

// ModelFormat is the value of the "format" metadata key in files we write.
const ModelFormat = "mnist-go/model/v1"

// ModelInfo is what a model file records besides the weights: the
// architecture, the preprocessing it was trained with, and how it was trained.
type ModelInfo struct {
	Spec         Spec          `json:"spec"`
	Norm         Normalization `json:"normalization"`
	Dataset      string        `json:"dataset,omitempty"`
	DataID       string        `json:"dataset_id,omitempty"` // see DataID
	Epochs       int           `json:"epochs,omitempty"`
	TestAccuracy float64       `json:"test_accuracy,omitempty"`
	TestLoss     float64       `json:"test_loss,omitempty"`
	Seed         uint64        `json:"seed,omitempty"`
	Optimizer    string        `json:"optimizer,omitempty"` // e.g. "sgd lr=0.05 momentum=0.9"
	Batch        int           `json:"batch,omitempty"`
	Backend      string        `json:"backend,omitempty"`
}

// modelTensors converts a flat parameter vector into the named tensors of
// spec, shaped and ordered as in PyTorch's state_dict.
func modelTensors(spec Spec, params []float32) ([]safetensors.Tensor, error) {
	if len(params) != spec.NumParams() {
		return nil, fmt.Errorf("%d parameters for a %s, which has %d", len(params), spec, spec.NumParams())
	}
	params = spec.TorchOrder(params)
	var ts []safetensors.Tensor
	for _, p := range spec.Params() {
		ts = append(ts, safetensors.FromFloat32s(p.Name, p.Shape, params[p.Offset:p.Offset+p.Size()]))
	}
	return ts, nil
}

// metadata renders info as the string map a safetensors header holds: a JSON
// copy for us plus flat keys that people and other tools can read.
func (info ModelInfo) metadata() (map[string]string, error) {
	raw, err := json.Marshal(info)
	if err != nil {
		return nil, err
	}
	md := map[string]string{
		"format":        ModelFormat,
		"mnist_go":      string(raw),
		"architecture":  info.Spec.String(),
		"input":         fmt.Sprintf("%dx%d", info.Spec.Rows, info.Spec.Cols),
		"classes":       strconv.Itoa(info.Spec.Classes),
		"normalization": fmt.Sprintf("mean=%g std=%g", info.Norm.Mean, info.Norm.Std),
	}
	if info.Dataset != "" {
		md["dataset"] = info.Dataset
	}
	if info.Epochs > 0 {
		md["epochs"] = strconv.Itoa(info.Epochs)
		md["test_accuracy"] = strconv.FormatFloat(info.TestAccuracy, 'f', 4, 64)
		md["seed"] = strconv.FormatUint(info.Seed, 10)
		md["optimizer"] = info.Optimizer
	}
	return md, nil
}

// SaveModel writes the parameters of info.Spec to path as safetensors, with
// PyTorch's tensor names and shapes (so the tutorial's module loads them with
// load_state_dict) and info in the metadata. The file is written to a
// temporary name and renamed.
func SaveModel(path string, params []float32, info ModelInfo) error {
	ts, err := modelTensors(info.Spec, params)
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	md, err := info.metadata()
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	md[digestKey] = contentDigest(ts)
	return safetensors.WriteFile(path, &safetensors.File{Tensors: ts, Metadata: md})
}

// digestKey is the metadata key of the SHA-256 of a file's tensor data:
// the safetensors format has no checksum, and a flipped bit in a weight or
// in an optimiser's state would otherwise load silently.
const digestKey = "content_sha256"

// contentDigest hashes the tensors' names, shapes and data, in file order.
func contentDigest(ts []safetensors.Tensor) string {
	h := sha256.New()
	for _, t := range ts {
		fmt.Fprintf(h, "%s %s %v %d\n", t.Name, t.DType, t.Shape, len(t.Data))
		h.Write(t.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkDigest verifies the digest recorded in f, when there is one (files
// written by other tools have none).
func checkDigest(path string, f *safetensors.File) error {
	want, ok := f.Metadata[digestKey]
	if !ok {
		return nil
	}
	if got := contentDigest(f.Tensors); got != want {
		return fmt.Errorf("%s is damaged: its tensor data does not match the SHA-256 recorded when it was written (%s, now %s): use another copy", path, want, got)
	}
	return nil
}

// LoadModel reads a model file: ours, or a state_dict of a PyTorch MLP or
// CNN (see MLP and CNN) saved with safetensors (the architecture is then
// inferred from the tensor shapes, for square images, without
// normalisation). Every tensor is checked against the architecture.
func LoadModel(path string) ([]float32, ModelInfo, error) {
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, ModelInfo{}, err
	}
	return modelFromFile(path, f)
}

func modelFromFile(path string, f *safetensors.File) ([]float32, ModelInfo, error) {
	var info ModelInfo
	if err := checkDigest(path, f); err != nil {
		return nil, info, err
	}
	if raw, ok := f.Metadata["mnist_go"]; ok {
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return nil, info, fmt.Errorf("%s: metadata mnist_go is not valid: %v", path, err)
		}
	} else {
		spec, err := inferSpec(f)
		if err != nil {
			return nil, info, fmt.Errorf("%s: not a model file of ours and %v", path, err)
		}
		info.Spec = spec
	}
	if err := info.Spec.Validate(); err != nil {
		return nil, info, fmt.Errorf("%s: %v", path, err)
	}
	params := make([]float32, info.Spec.NumParams())
	for _, p := range info.Spec.Params() {
		t, err := f.Expect(p.Name, safetensors.F32, p.Shape...)
		if err != nil {
			return nil, info, fmt.Errorf("%s: %v (the file does not hold a %s)", path, err, info.Spec)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, info, fmt.Errorf("%s: %v", path, err)
		}
		copy(params[p.Offset:], v)
	}
	params = info.Spec.FromTorchOrder(params)
	if i := firstNonFinite(params); i >= 0 {
		return nil, info, fmt.Errorf("%s: parameter %d is %v: the model diverged when it was trained", path, i, params[i])
	}
	return params, info, nil
}

// inferSpec recovers the spec of a state_dict without our metadata: a cnn
// when model.0.weight is a convolution's, else an mlp.
func inferSpec(f *safetensors.File) (Spec, error) {
	if t, ok := f.Get("model.0.weight"); ok && len(t.Shape) == 4 {
		return inferCNN(f)
	}
	return inferMLP(f)
}

// inferCNN recovers a cnn's spec from the shape of its first linear layer
// (model.7.weight, [128, 64·s·s]) and its last (model.9.weight): the
// square input whose convolutions and pools leave exactly s×s, 4·s + 12
// pixels wide (28 for MNIST).
func inferCNN(f *safetensors.File) (Spec, error) {
	fc1, ok1 := f.Get("model.7.weight")
	fc2, ok2 := f.Get("model.9.weight")
	if !ok1 || !ok2 || len(fc1.Shape) != 2 || len(fc2.Shape) != 2 {
		return Spec{}, fmt.Errorf("has a convolution model.0.weight but not the cnn's linear layers model.7 and model.9 (Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, Linear, ReLU, Linear)")
	}
	cells := fc1.Shape[1] / cnnChannel2
	side := int(math.Round(math.Sqrt(float64(cells))))
	if side < 1 || side*side*cnnChannel2 != fc1.Shape[1] {
		return Spec{}, fmt.Errorf("model.7.weight takes %d inputs, not the %d channels of a square image the cnn's convolutions leave", fc1.Shape[1], cnnChannel2)
	}
	return CNN(4*side+12, 4*side+12, fc2.Shape[0]), nil
}

// inferMLP recovers an mlp's spec from the shapes of model.<i>.weight
// tensors (i = 1, 3, 5, …), as PyTorch's tutorial module names them.
func inferMLP(f *safetensors.File) (Spec, error) {
	var idx []int
	shapes := map[int][]int{}
	for _, t := range f.Tensors {
		var i int
		if _, err := fmt.Sscanf(t.Name, "model.%d.weight", &i); err == nil && strings.HasSuffix(t.Name, ".weight") {
			idx = append(idx, i)
			shapes[i] = t.Shape
		}
	}
	if len(idx) == 0 {
		return Spec{}, fmt.Errorf("holds no model.<n>.weight tensors of an MLP")
	}
	sort.Ints(idx)
	var hidden []int
	for k, i := range idx {
		s := shapes[i]
		if len(s) != 2 || i != 2*k+1 {
			return Spec{}, fmt.Errorf("tensor model.%d.weight does not fit the tutorial's MLP layout (Flatten, Linear, ReLU, …)", i)
		}
		if k > 0 && s[1] != shapes[idx[k-1]][0] {
			return Spec{}, fmt.Errorf("model.%d.weight takes %d inputs but the layer before has %d outputs", i, s[1], shapes[idx[k-1]][0])
		}
		if k < len(idx)-1 {
			hidden = append(hidden, s[0])
		}
	}
	in := shapes[idx[0]][1]
	side := int(math.Round(math.Sqrt(float64(in))))
	if side*side != in {
		return Spec{}, fmt.Errorf("the first layer takes %d inputs, not a square image", in)
	}
	return MLP(side, side, hidden, shapes[idx[len(idx)-1]][0]), nil
}
