package nn_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/safetensors"
)

// letters are EMNIST Letters' class names.
func letters(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	return names
}

// A model of 26 letters on 32×20 images records its classes, image size,
// names and label base, and reads them back.
func TestModelFileClassNames(t *testing.T) {
	s := nn.CNN(32, 20, 26)
	info := nn.ModelInfo{Spec: s, Norm: nn.MNISTNormalization, ClassNames: letters(26), LabelBase: 1}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := nn.SaveModel(path, nn.InitParams(s, 1), info); err != nil {
		t.Fatal(err)
	}
	_, got, err := nn.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.ClassNames, info.ClassNames) || got.LabelBase != 1 || got.Spec.Classes != 26 || got.Spec.Rows != 32 || got.Spec.Cols != 20 {
		t.Errorf("read back %+v", got)
	}
	if got.ClassName(25) != "z" || (nn.ModelInfo{LabelBase: 1}).ClassName(0) != "1" || (nn.ModelInfo{}).ClassName(7) != "7" {
		t.Errorf("ClassName: %q %q %q", got.ClassName(25), (nn.ModelInfo{LabelBase: 1}).ClassName(0), (nn.ModelInfo{}).ClassName(7))
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := json.Unmarshal([]byte(f.Metadata["class_names"]), &names); err != nil || !slices.Equal(names, info.ClassNames) {
		t.Errorf("metadata class_names %q: %v", f.Metadata["class_names"], err)
	}
	if f.Metadata["input"] != "32x20" || f.Metadata["classes"] != "26" || f.Metadata["label_base"] != "1" {
		t.Errorf("metadata input %q classes %q label_base %q", f.Metadata["input"], f.Metadata["classes"], f.Metadata["label_base"])
	}
}

func TestModelInfoRefusesBadClassNames(t *testing.T) {
	s := nn.MLP(8, 8, nil, 3)
	for _, c := range []struct {
		names []string
		base  int
		want  string
	}{
		{[]string{"a", "b"}, 0, "2 class names for 3 classes"},
		{[]string{"a", "", "c"}, 0, "class 1 has an empty name"},
		{[]string{"a", "b", "a"}, 0, `classes 0 and 2 are both named "a"`},
		{[]string{"a", "b\nc", "d"}, 0, "control character"},
		{[]string{"a", strings.Repeat("x", 65), "d"}, 0, "65 bytes long"},
		{[]string{"a", "b", "\xff"}, 0, "not valid UTF-8"},
		{nil, 254, "label base 254 for 3 classes"},
		{nil, -1, "label base -1"},
	} {
		err := nn.ModelInfo{Spec: s, ClassNames: c.names, LabelBase: c.base}.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("names %q base %d: %v, want %q", c.names, c.base, err, c.want)
		}
		path := filepath.Join(t.TempDir(), "m.safetensors")
		err = nn.SaveModel(path, nn.InitParams(s, 1), nn.ModelInfo{Spec: s, ClassNames: c.names, LabelBase: c.base})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("save with names %q base %d: %v, want %q", c.names, c.base, err, c.want)
		}
	}
}
