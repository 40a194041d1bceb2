package nn

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mnist-go/mnist/nn/safetensors"
)

// ModelFormat is the value of the "format" metadata key in files we write.
// Version 2 files carry a digest of their metadata as well as their
// tensors; version 1 files (a digest of the tensors only) are still read.
const ModelFormat = "mnist-go/model/v2"

// modelFormatV1 is the format of model files written before the digest
// covered the metadata.
const modelFormatV1 = "mnist-go/model/v1"

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

	// ClassNames names the Spec.Classes outputs, class 0 first (the
	// letters of EMNIST Letters, say); empty when the classes are known by
	// their numbers only.
	ClassNames []string `json:"class_names,omitempty"`
	// LabelBase is what was subtracted from the data set's labels to
	// number the classes from 0: 1 for a data set numbered from 1. eval
	// subtracts it again from the data it is given.
	LabelBase int `json:"label_base,omitempty"`
}

// Limits of the class names a model records.
const (
	MaxClassNameBytes = 64
)

// ClassName returns the name of class c: its recorded name, or its number
// (counted from the label base, as the data set's labels are).
func (info ModelInfo) ClassName(c int) string {
	if c >= 0 && c < len(info.ClassNames) {
		return info.ClassNames[c]
	}
	return strconv.Itoa(c + info.LabelBase)
}

// ValidateClassNames checks a list of class names for n classes: n of them
// (or none), each 1 to MaxClassNameBytes bytes of printable UTF-8 text
// without line breaks, no two alike.
func ValidateClassNames(names []string, n int) error {
	if len(names) == 0 {
		return nil
	}
	if len(names) != n {
		return fmt.Errorf("%d class names for %d classes: give one name per class", len(names), n)
	}
	seen := make(map[string]int, len(names))
	for i, name := range names {
		switch {
		case name == "":
			return fmt.Errorf("class %d has an empty name", i)
		case len(name) > MaxClassNameBytes:
			return fmt.Errorf("class %d's name is %d bytes long: at most %d", i, len(name), MaxClassNameBytes)
		case !utf8.ValidString(name):
			return fmt.Errorf("class %d's name %q is not valid UTF-8", i, name)
		case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
			return fmt.Errorf("class %d's name %q holds a control character", i, name)
		}
		if j, dup := seen[name]; dup {
			return fmt.Errorf("classes %d and %d are both named %q", j, i, name)
		}
		seen[name] = i
	}
	return nil
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
	if len(info.ClassNames) > 0 {
		md["class_names"] = classNamesKey(info.ClassNames)
	}
	if info.LabelBase != 0 {
		md["label_base"] = strconv.Itoa(info.LabelBase)
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
	if err := info.validateClasses(); err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	ts, err := modelTensors(info.Spec, params)
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	md, err := info.metadata()
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	md[digestKey] = contentDigest(ts, md)
	return safetensors.WriteFile(path, &safetensors.File{Tensors: ts, Metadata: md})
}

// digestKey is the metadata key of the SHA-256 of a file's tensor data:
// the safetensors format has no checksum, and a flipped bit in a weight or
// in an optimiser's state would otherwise load silently.
const digestKey = "content_sha256"

// contentDigest hashes the tensors' names, shapes and data, in file order,
// and then every metadata entry but the digest itself, in key order: a
// changed width, class count or normalisation is as much damage as a
// flipped weight. md nil gives the digest of version 1 files (tensors only).
func contentDigest(ts []safetensors.Tensor, md map[string]string) string {
	h := sha256.New()
	for _, t := range ts {
		fmt.Fprintf(h, "%s %s %v %d\n", t.Name, t.DType, t.Shape, len(t.Data))
		h.Write(t.Data)
	}
	if md != nil {
		keys := make([]string, 0, len(md))
		for k := range md {
			if k != digestKey {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(h, "metadata %d %s %d %s\n", len(k), k, len(md[k]), md[k])
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkDigest verifies the digest recorded in f, when there is one (files
// written by other tools have none): of the tensors only in version 1
// files, of tensors and metadata since.
func checkDigest(path string, f *safetensors.File) error {
	want, ok := f.Metadata[digestKey]
	if !ok {
		return nil
	}
	md := f.Metadata
	if format := f.Metadata["format"]; format == modelFormatV1 || format == checkpointFormatV1 {
		md = nil
	}
	if got := contentDigest(f.Tensors, md); got != want {
		return fmt.Errorf("%s is damaged: its tensors or metadata do not match the SHA-256 recorded when it was written (%s, now %s): use another copy", path, want, got)
	}
	return nil
}

// Limits of the files LoadModel and LoadCheckpoint read, checked from the
// header before the data are read: headers of ours are a few KiB (a
// checkpoint's history adds about 200 bytes an epoch), and the data are at
// most the largest model's weights, or for a checkpoint those and two
// optimiser buffers as large.
const (
	maxHeaderBytes     = 16 << 20
	maxModelBytes      = 4*MaxParams + maxHeaderBytes
	maxCheckpointBytes = 3*4*MaxParams + maxHeaderBytes
)

// LoadModel reads a model file: ours, or a state_dict of a PyTorch MLP or
// CNN (see MLP and CNN) saved with safetensors (the architecture is then
// inferred from the tensor shapes, for square images, without
// normalisation). The header is checked first, every metadata field against
// the limits and the tensor shapes it describes, before the weights are
// read; a file over the size limits is refused unread.
func LoadModel(path string) ([]float32, ModelInfo, error) {
	return readModel(path, func(check func(*safetensors.File) error) (*safetensors.File, error) {
		return safetensors.ReadFileChecked(path, safetensors.Limits{HeaderBytes: maxHeaderBytes, FileBytes: maxModelBytes}, check)
	})
}

// ReadModel is LoadModel on a stream; name names it in errors.
func ReadModel(r io.Reader, name string) ([]float32, ModelInfo, error) {
	return readModel(name, func(check func(*safetensors.File) error) (*safetensors.File, error) {
		return safetensors.ReadChecked(r, name, -1, safetensors.Limits{HeaderBytes: maxHeaderBytes, FileBytes: maxModelBytes}, check)
	})
}

// readModel reads a model with read, which checks the header with the
// function it is given before it reads the data.
func readModel(path string, read func(check func(*safetensors.File) error) (*safetensors.File, error)) ([]float32, ModelInfo, error) {
	var info ModelInfo
	f, err := read(func(h *safetensors.File) (err error) {
		info, err = modelHeader(path, h, nil)
		return err
	})
	if err != nil {
		return nil, ModelInfo{}, err
	}
	params, err := modelParams(path, f, info)
	return params, info, err
}

// modelHeader reads and checks the ModelInfo of a file from its header
// alone: the metadata are valid and agree with each other, and the file
// holds every tensor of the architecture with the right type and shape. A
// file of ours holds those tensors and may hold the ones named in extra (a
// checkpoint's optimiser state: a vector of one value per parameter), and
// no others.
func modelHeader(path string, f *safetensors.File, extra []string) (ModelInfo, error) {
	var info ModelInfo
	raw, ours := f.Metadata["mnist_go"]
	if ours {
		if err := json.Unmarshal([]byte(raw), &info); err != nil {
			return info, fmt.Errorf("%s: metadata mnist_go is not valid: %v", path, err)
		}
	} else {
		spec, err := inferSpec(f)
		if err != nil {
			return info, fmt.Errorf("%s: not a model file of ours and %v", path, err)
		}
		info.Spec = spec
	}
	if err := info.Validate(); err != nil {
		return info, fmt.Errorf("%s: %v", path, err)
	}
	if ours {
		if err := info.agrees(f.Metadata); err != nil {
			return info, fmt.Errorf("%s: %v: the file is damaged or was edited", path, err)
		}
	}
	want := map[string]bool{}
	for _, p := range info.Spec.Params() {
		want[p.Name] = true
		t, ok := f.Get(p.Name)
		switch {
		case !ok:
			return info, fmt.Errorf("%s: %s: no such tensor (the file does not hold a %s)", path, p.Name, info.Spec)
		case t.DType != safetensors.F32:
			return info, fmt.Errorf("%s: %s: dtype %s, want F32 (the file does not hold a %s)", path, p.Name, t.DType, info.Spec)
		case !slices.Equal(t.Shape, p.Shape):
			return info, fmt.Errorf("%s: %s: shape %v, want %v (the file does not hold a %s)", path, p.Name, t.Shape, p.Shape, info.Spec)
		}
	}
	n := info.Spec.NumParams()
	for _, name := range extra {
		want[name] = true
		if t, ok := f.Get(name); ok && (t.DType != safetensors.F32 || !slices.Equal(t.Shape, []int{n})) {
			return info, fmt.Errorf("%s: %s: %s %v, want F32 [%d] (optimiser state of a %s)", path, name, t.DType, t.Shape, n, info.Spec)
		}
	}
	if ours {
		for _, t := range f.Tensors {
			if !want[t.Name] {
				return info, fmt.Errorf("%s: holds a tensor %s that a %s does not have: the file is damaged or was edited", path, t.Name, info.Spec)
			}
		}
	}
	return info, nil
}

// Validate checks every field of a model's description against the limits
// of Spec and the ranges the fields can have.
func (info ModelInfo) Validate() error {
	if err := info.Spec.Validate(); err != nil {
		return err
	}
	if err := info.Norm.Validate(); err != nil {
		return err
	}
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	switch {
	case info.Epochs < 0 || info.Epochs > 1_000_000:
		return fmt.Errorf("epochs %d: must be 0 to 1000000", info.Epochs)
	case !finite(info.TestAccuracy) || info.TestAccuracy < 0 || info.TestAccuracy > 1:
		return fmt.Errorf("test accuracy %g: must be a fraction from 0 to 1", info.TestAccuracy)
	case !finite(info.TestLoss) || info.TestLoss < 0:
		return fmt.Errorf("test loss %g: must be a finite number, at least 0", info.TestLoss)
	case info.Batch < 0:
		return fmt.Errorf("batch %d: must not be negative", info.Batch)
	}
	return info.validateClasses()
}

// validateClasses checks the class names and label base: a file that
// LoadModel would refuse is never written.
func (info ModelInfo) validateClasses() error {
	if info.LabelBase < 0 || info.LabelBase+info.Spec.Classes > 256 {
		return fmt.Errorf("label base %d for %d classes: the labels must fit a byte (0 to 255)", info.LabelBase, info.Spec.Classes)
	}
	return ValidateClassNames(info.ClassNames, info.Spec.Classes)
}

// classNamesKey is the flat metadata value of the class names: a JSON array.
func classNamesKey(names []string) string {
	b, _ := json.Marshal(names) // strings always marshal
	return string(b)
}

// agrees checks the flat metadata keys that people and other tools read
// against the ModelInfo they were written from.
func (info ModelInfo) agrees(md map[string]string) error {
	for _, kv := range [][2]string{
		{"architecture", info.Spec.String()},
		{"input", fmt.Sprintf("%dx%d", info.Spec.Rows, info.Spec.Cols)},
		{"classes", strconv.Itoa(info.Spec.Classes)},
		{"class_names", classNamesKey(info.ClassNames)},
		{"label_base", strconv.Itoa(info.LabelBase)},
	} {
		if got, ok := md[kv[0]]; ok && got != kv[1] {
			return fmt.Errorf("metadata %s is %q but the model described in mnist_go has %q", kv[0], got, kv[1])
		}
	}
	return nil
}

// modelParams checks the digest of a file whose header modelHeader accepted
// and reads its weights into our parameter order.
func modelParams(path string, f *safetensors.File, info ModelInfo) ([]float32, error) {
	if err := checkDigest(path, f); err != nil {
		return nil, err
	}
	params := make([]float32, info.Spec.NumParams())
	for _, p := range info.Spec.Params() {
		t, err := f.Expect(p.Name, safetensors.F32, p.Shape...)
		if err != nil {
			return nil, fmt.Errorf("%s: %v (the file does not hold a %s)", path, err, info.Spec)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		copy(params[p.Offset:], v)
	}
	params = info.Spec.FromTorchOrder(params)
	if i := firstNonFinite(params); i >= 0 {
		return nil, fmt.Errorf("%s: parameter %d is %v: the model diverged when it was trained", path, i, params[i])
	}
	return params, nil
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
