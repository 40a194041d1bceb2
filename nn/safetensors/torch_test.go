package safetensors_test

// PyTorch interop: files we write load into the PyTorch tutorial's MLP with
// load_state_dict(strict=True), and files written from torch tensors decode
// here to the same values. The PyTorch side is testdata/torch_load.py; it
// uses safetensors.torch when installed and its own reader/writer per the
// spec otherwise.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	st "github.com/mnist-go/mnist/nn/safetensors"
)

var (
	torchOnce   sync.Once
	torchPy     string
	torchReason string
)

// torchPython returns a python3 that can import torch, or skips the test.
// It is /usr/bin/python3 unless MNIST_TORCH_PYTHON names another.
func torchPython(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping the PyTorch interop test")
	}
	torchOnce.Do(func() {
		python := os.Getenv("MNIST_TORCH_PYTHON")
		if python == "" {
			python = "/usr/bin/python3"
		}
		if _, err := os.Stat(python); err != nil {
			torchReason = fmt.Sprintf("no python for the PyTorch interop test: %v (set MNIST_TORCH_PYTHON)", err)
			return
		}
		cmd := exec.Command(python, "-c", "import torch")
		cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=2")
		if out, err := cmd.CombinedOutput(); err != nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			torchReason = fmt.Sprintf("%s cannot import torch (%v: %s); set MNIST_TORCH_PYTHON to one that can",
				python, err, lines[len(lines)-1])
			return
		}
		torchPy = python
	})
	if torchPy == "" {
		t.Skip(torchReason)
	}
	return torchPy
}

// torchOutput is what torch_load.py prints.
type torchOutput struct {
	Impl     string                  `json:"impl"`
	Metadata map[string]string       `json:"metadata"`
	Tensors  map[string]tensorReport `json:"tensors"`
	Logits   []float64               `json:"logits"`
}

// tensorReport describes a tensor the same way on both sides: element type,
// shape, sum and position-weighted sum of the elements as float64, and the
// elements themselves (canonical strings) for tensors of up to 64 elements.
type tensorReport struct {
	DType  string `json:"dtype"`
	Shape  []int  `json:"shape"`
	Sum    float64
	WSum   float64
	Values []string
}

func (r *tensorReport) UnmarshalJSON(b []byte) error {
	var raw struct {
		DType  string  `json:"dtype"`
		Shape  []int   `json:"shape"`
		Sum    float64 `json:"sum"`
		WSum   float64 `json:"wsum"`
		Values []any   `json:"values"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	*r = tensorReport{DType: raw.DType, Shape: raw.Shape, Sum: raw.Sum, WSum: raw.WSum}
	if raw.Values == nil {
		return nil
	}
	r.Values = []string{}
	for _, v := range raw.Values {
		var s string
		switch v := v.(type) {
		case bool: // BOOL elements, which report writes as 0 and 1
			s = map[bool]string{false: "0", true: "1"}[v]
		case json.Number:
			s = v.String()
			if strings.HasPrefix(raw.DType, "F") || raw.DType == "BF16" {
				x, err := strconv.ParseFloat(s, 64)
				if err != nil {
					return err
				}
				s = strconv.FormatFloat(x, 'g', -1, 64) // "1.0" and "1" alike
			}
		default:
			return fmt.Errorf("value %v of type %T", v, v)
		}
		r.Values = append(r.Values, s)
	}
	return nil
}

// report describes a tensor from its bytes, decoding every element type that
// torch has independently of the package under test.
func report(t *testing.T, tn st.Tensor) tensorReport {
	t.Helper()
	size := tn.DType.Size()
	if size == 0 || len(tn.Data)%size != 0 {
		t.Fatalf("%s: cannot describe %s with %d bytes", tn.Name, tn.DType, len(tn.Data))
	}
	n := len(tn.Data) / size
	r := tensorReport{DType: string(tn.DType), Shape: tn.Shape}
	if r.Shape == nil {
		r.Shape = []int{}
	}
	if n <= 64 {
		r.Values = []string{}
	}
	le := binary.LittleEndian
	for i := range n {
		b := tn.Data[i*size:]
		var x float64
		var s string
		switch tn.DType {
		case st.F64:
			x = math.Float64frombits(le.Uint64(b))
		case st.F32:
			x = float64(math.Float32frombits(le.Uint32(b)))
		case st.BF16:
			x = float64(math.Float32frombits(uint32(le.Uint16(b)) << 16))
		case st.F16:
			x = half(le.Uint16(b))
		case st.I64:
			v := int64(le.Uint64(b))
			x, s = float64(v), strconv.FormatInt(v, 10)
		case st.I32:
			v := int32(le.Uint32(b))
			x, s = float64(v), strconv.Itoa(int(v))
		case st.I16:
			v := int16(le.Uint16(b))
			x, s = float64(v), strconv.Itoa(int(v))
		case st.I8:
			x, s = float64(int8(b[0])), strconv.Itoa(int(int8(b[0])))
		case st.U8, st.BOOL:
			x, s = float64(b[0]), strconv.Itoa(int(b[0]))
		default:
			t.Fatalf("%s: torch has no %s", tn.Name, tn.DType)
		}
		if s == "" {
			s = strconv.FormatFloat(x, 'g', -1, 64)
		}
		r.Sum += x
		r.WSum += x * float64(i%13+1)
		if r.Values != nil {
			r.Values = append(r.Values, s)
		}
	}
	return r
}

// half decodes an IEEE 754 binary16 (finite values only).
func half(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, mant := int(h>>10)&0x1f, float64(h&0x3ff)
	if exp == 0 {
		return sign * mant * math.Ldexp(1, -24)
	}
	return sign * (1 + mant/1024) * math.Ldexp(1, exp-15)
}

// closeTo reports whether two sums agree to rounding.
func closeTo(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// compareReports checks torch's view of the tensors against ours.
func compareReports(t *testing.T, got map[string]tensorReport, want []st.Tensor) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("torch sees %d tensors, want %d", len(got), len(want))
	}
	for _, tn := range want {
		w := report(t, tn)
		g, ok := got[tn.Name]
		switch {
		case !ok:
			t.Errorf("%s: torch does not see it", tn.Name)
		case g.DType != w.DType || !slices.Equal(g.Shape, w.Shape):
			t.Errorf("%s: torch sees %s %v, want %s %v", tn.Name, g.DType, g.Shape, w.DType, w.Shape)
		case !slices.Equal(g.Values, w.Values):
			t.Errorf("%s: torch sees values %v, want %v", tn.Name, g.Values, w.Values)
		case !closeTo(g.Sum, w.Sum, 1e-12) || !closeTo(g.WSum, w.WSum, 1e-12):
			t.Errorf("%s: torch sums %v (weighted %v), want %v (%v)", tn.Name, g.Sum, g.WSum, w.Sum, w.WSum)
		}
	}
}

// runTorch runs torch_load.py mode path and parses what it prints.
func runTorch(t *testing.T, mode, path string) torchOutput {
	t.Helper()
	python := torchPython(t)
	cmd := exec.Command(python, filepath.Join("testdata", "torch_load.py"), mode, path)
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=2")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("torch_load.py %s: %v\n%s", mode, err, stderr.String())
	}
	var out torchOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("torch_load.py %s printed %q: %v", mode, stdout.String(), err)
	}
	t.Logf("torch_load.py %s used %s", mode, out.Impl)
	return out
}

// mlpLayers are the tutorial MLP's Linear layers as (in, out) sizes, under
// the state_dict names model.1, model.3, model.5.
var mlpLayers = []struct {
	name    string
	in, out int
}{{"model.1", 784, 64}, {"model.3", 64, 32}, {"model.5", 32, 10}}

// mlpFile is a state_dict of the tutorial MLP whose every value is a
// multiple of 1/8 in [-1, 1], so that sums are exact in float64.
func mlpFile() *st.File {
	f := &st.File{Metadata: map[string]string{"format": "pt"}}
	k := 0
	values := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((i*7+k*3)%17-8) / 8
		}
		k++
		return v
	}
	for _, l := range mlpLayers {
		f.Tensors = append(f.Tensors,
			st.FromFloat32s(l.name+".weight", []int{l.out, l.in}, values(l.out*l.in)),
			st.FromFloat32s(l.name+".bias", []int{l.out}, values(l.out)))
	}
	return f
}

// mlpForward computes the MLP's logits for the input torch_load.py uses
// (pixel i is ((i % 5) - 2) / 4), in float64: y = x Wᵀ + b with ReLU between.
func mlpForward(t *testing.T, f *st.File) []float64 {
	x := make([]float64, 784)
	for i := range x {
		x[i] = float64(i%5-2) / 4
	}
	for li, l := range mlpLayers {
		wt, err := f.Expect(l.name+".weight", st.F32, l.out, l.in)
		if err != nil {
			t.Fatal(err)
		}
		bt, err := f.Expect(l.name+".bias", st.F32, l.out)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := wt.Float32s()
		b, _ := bt.Float32s()
		y := make([]float64, l.out) // y is (out), w is (out, in)
		for j := range y {
			y[j] = float64(b[j])
			for i := range x {
				y[j] += float64(w[j*l.in+i]) * x[i]
			}
			if li < len(mlpLayers)-1 {
				y[j] = max(y[j], 0)
			}
		}
		x = y
	}
	return x
}

func TestTorchLoadsTutorialMLP(t *testing.T) {
	torchPython(t)
	path := filepath.Join(t.TempDir(), "mlp.safetensors")
	f := mlpFile()
	if err := st.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	out := runTorch(t, "load", path)
	compareReports(t, out.Tensors, f.Tensors)
	if out.Metadata["format"] != "pt" {
		t.Errorf("torch sees metadata %v", out.Metadata)
	}
	want := mlpForward(t, f)
	if len(out.Logits) != len(want) {
		t.Fatalf("torch gives %d logits, want %d", len(out.Logits), len(want))
	}
	for i := range want {
		if !closeTo(out.Logits[i], want[i], 1e-5) {
			t.Errorf("logit %d: torch %v, Go %v", i, out.Logits[i], want[i])
		}
	}
}

func TestTorchReadsEveryDType(t *testing.T) {
	torchPython(t)
	u16s := func(v ...uint16) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint16(b, x)
		}
		return b
	}
	le := binary.LittleEndian
	f := &st.File{
		Metadata: map[string]string{"format": "pt", "note": "every dtype torch has"},
		Tensors: []st.Tensor{
			{Name: "f64", DType: st.F64, Shape: []int{2}, Data: le.AppendUint64(le.AppendUint64(nil, math.Float64bits(-1.5)), math.Float64bits(1e300))},
			st.FromFloat32s("f32", []int{2, 2}, []float32{0.1, -2, math.SmallestNonzeroFloat32, 1e30}),
			st.FromInt64s("i64", []int{2, 2}, []int64{math.MinInt64, -1, 0, math.MaxInt64}),
			{Name: "i32", DType: st.I32, Shape: []int{2}, Data: le.AppendUint32(le.AppendUint32(nil, 1<<31), 1<<31-1)},
			{Name: "bf16", DType: st.BF16, Shape: []int{4}, Data: u16s(0xC040, 0x3F80, 0x7F7F, 0x0001)},
			{Name: "f16", DType: st.F16, Shape: []int{2, 4}, Data: u16s(0xB800, 0xB400, 0x0000, 0x8000, 0x3800, 0x7BFF, 0x0001, 0x03FF)},
			{Name: "i16", DType: st.I16, Shape: []int{3}, Data: u16s(0x8000, 0x0001, 0x7FFF)},
			{Name: "i8", DType: st.I8, Shape: []int{3, 1}, Data: []byte{0x80, 0xFF, 0x7F}},
			{Name: "u8", DType: st.U8, Shape: []int{3}, Data: []byte{0, 128, 255}},
			{Name: "bool", DType: st.BOOL, Shape: []int{1, 3}, Data: []byte{1, 0, 1}},
			st.FromFloat32s("empty", []int{0, 3}, nil),
			st.FromInt64s("step", nil, []int64{938}),
		},
	}
	path := filepath.Join(t.TempDir(), "dtypes.safetensors")
	if err := st.WriteFile(path, f); err != nil {
		t.Fatal(err)
	}
	out := runTorch(t, "dump", path)
	compareReports(t, out.Tensors, f.Tensors)
	if len(out.Metadata) != 2 || out.Metadata["note"] != f.Metadata["note"] {
		t.Errorf("torch sees metadata %v, want %v", out.Metadata, f.Metadata)
	}
}

func TestReadTorchWrittenFile(t *testing.T) {
	torchPython(t)
	path := filepath.Join(t.TempDir(), "torch.safetensors")
	out := runTorch(t, "write", path)
	f, err := st.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	compareReports(t, out.Tensors, f.Tensors)
	if d := sameFile(&st.File{Metadata: f.Metadata}, &st.File{Metadata: out.Metadata}); d != "" {
		t.Errorf("metadata: %s", d)
	}
	if _, err := f.Expect("model.1.weight", st.F32, 64, 784); err != nil {
		t.Error(err)
	}
	// The torch side wrote the tensors in the reference writer's order, so
	// re-encoding them in the order decoded reproduces the file exactly.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if again := encode(t, f); !bytes.Equal(again, raw) {
		n := binary.LittleEndian.Uint64(raw)
		t.Errorf("re-encoding the %s-written file changes it; its header was\n%s", out.Impl, raw[8:8+n])
	}
}
