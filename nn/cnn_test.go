package nn_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mnist-go/mnist/mnist/mnisttest"
	"github.com/mnist-go/mnist/nn"
	"github.com/mnist-go/mnist/nn/safetensors"
)

func TestCNNSpec(t *testing.T) {
	s := nn.CNN(28, 28, 10)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range s.Params() {
		got = append(got, fmt.Sprintf("%s%v@%d", p.Name, p.Shape, p.Offset))
	}
	// PyTorch's state_dict of nn.Sequential(Conv2d(1, 32, 5), ReLU(), MaxPool2d(2),
	// Conv2d(32, 64, 5), ReLU(), MaxPool2d(2), Flatten(), Linear(1024, 128), ReLU(), Linear(128, 10)).
	want := []string{
		"model.0.weight[32 1 5 5]@0", "model.0.bias[32]@800",
		"model.3.weight[64 32 5 5]@832", "model.3.bias[64]@52032",
		"model.7.weight[128 1024]@52096", "model.7.bias[128]@183168",
		"model.9.weight[10 128]@183296", "model.9.bias[10]@184576",
	}
	if !slices.Equal(got, want) {
		t.Errorf("parameters\n%q\nwant PyTorch's state_dict\n%q", got, want)
	}
	if s.NumParams() != 184586 || s.String() != "cnn" {
		t.Errorf("%s has %d parameters, want cnn with 184586", s, s.NumParams())
	}
	// MACs per sample: conv1 24·24·32·25 = 460800 (no input gradient),
	// conv2 8·8·64·800 = 3276800, linear 1024·128 = 131072 and 128·10 = 1280.
	const conv1, rest = 460800, 3276800 + 131072 + 1280
	if f := s.FLOPsPerSample(); f != 2*(2*conv1+3*rest) {
		t.Errorf("FLOPs per sample %g, want %d", f, 2*(2*conv1+3*rest))
	}
	if p := s.Params()[4]; !slices.Equal(p.FlattenedHWC, []int{4, 4, 64}) {
		t.Errorf("model.7.weight FlattenedHWC %v, want [4 4 64]", p.FlattenedHWC)
	}
	var buf bytes.Buffer
	s.WriteSummary(&buf)
	for _, want := range []string{
		"model.0 (Conv2d)", "[-1, 32, 24, 24]", "model.1 (ReLU)", "model.2 (MaxPool2d)", "[-1, 32, 12, 12]",
		"model.3 (Conv2d)", "[-1, 64, 8, 8]", "51,264", "model.5 (MaxPool2d)", "[-1, 64, 4, 4]",
		"model.6 (Flatten)", "[-1, 1024]", "model.7 (Linear)", "131,200", "model.8 (ReLU)", "model.9 (Linear)",
		"Total params: 184,586",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	s.WriteDot(&buf)
	if !strings.Contains(buf.String(), `digraph "cnn"`) || !strings.Contains(buf.String(), "model.3 (Conv2d)") {
		t.Errorf("dot:\n%s", buf.String())
	}
	for _, bad := range []nn.Spec{nn.CNN(15, 28, 10), nn.CNN(28, 12, 10), {Model: "cnn", Rows: 28, Cols: 28, Hidden: []int{64}, Classes: 10}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: Validate accepted it", bad)
		}
	}
	if err := nn.CNN(16, 16, 10).Validate(); err != nil {
		t.Errorf("16×16: %v", err)
	}
}

// torchCNN is an independent float64 implementation of the cnn as PyTorch
// computes it: NCHW activations and every tensor in PyTorch's layout (the
// flat vector TorchOrder returns), so that it checks the model's NHWC
// layout and the permutation of the first linear layer too.
type torchCNN struct {
	spec   nn.Spec
	params []float64 // TorchOrder
}

// loss returns the mean cross-entropy of the batch (one image of
// Rows×Cols inputs per row of x), the logits, and the pattern of ReLU signs
// and pooling choices.
func (c torchCNN) loss(x []float64, labels []int) (float64, [][]float64, []int) {
	ps := c.spec.Params()
	tensor := func(i int) []float64 { return c.params[ps[i].Offset : ps[i].Offset+ps[i].Size()] }
	var pattern []int
	relu := func(v float64) float64 {
		if v > 0 {
			pattern = append(pattern, 1)
			return v
		}
		pattern = append(pattern, 0)
		return 0
	}
	// conv is a valid 5×5 convolution of in (C, H, W) with w [O, C, 5, 5], then ReLU.
	conv := func(in []float64, ch, h, w int, wt, bias []float64, out int) ([]float64, int, int) {
		oh, ow := h-4, w-4
		y := make([]float64, out*oh*ow)
		for o := 0; o < out; o++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					z := bias[o]
					for k := 0; k < ch; k++ {
						for a := 0; a < 5; a++ {
							for b := 0; b < 5; b++ {
								z += wt[((o*ch+k)*5+a)*5+b] * in[(k*h+i+a)*w+j+b]
							}
						}
					}
					y[(o*oh+i)*ow+j] = relu(z)
				}
			}
		}
		return y, oh, ow
	}
	pool := func(in []float64, ch, h, w int) ([]float64, int, int) {
		oh, ow := h/2, w/2
		y := make([]float64, ch*oh*ow)
		for k := 0; k < ch; k++ {
			for i := 0; i < oh; i++ {
				for j := 0; j < ow; j++ {
					best, at := math.Inf(-1), 0
					for a := 0; a < 2; a++ {
						for b := 0; b < 2; b++ {
							if v := in[(k*h+2*i+a)*w+2*j+b]; v > best {
								best, at = v, 2*a+b
							}
						}
					}
					y[(k*oh+i)*ow+j] = best
					pattern = append(pattern, at)
				}
			}
		}
		return y, oh, ow
	}
	linear := func(in, w, b []float64, out int, withReLU bool) []float64 {
		y := make([]float64, out)
		for o := range y {
			z := b[o]
			for i, v := range in {
				z += w[o*len(in)+i] * v
			}
			if withReLU {
				z = relu(z)
			}
			y[o] = z
		}
		return y
	}
	n := c.spec.Inputs()
	var total float64
	var allLogits [][]float64
	for r, label := range labels {
		a, h, w := conv(x[r*n:(r+1)*n], 1, c.spec.Rows, c.spec.Cols, tensor(0), tensor(1), 32)
		a, h, w = pool(a, 32, h, w)
		a, h, w = conv(a, 32, h, w, tensor(2), tensor(3), 64)
		a, _, _ = pool(a, 64, h, w) // flattened in (c, h, w) order, as nn.Flatten does
		a = linear(a, tensor(4), tensor(5), 128, true)
		logits := linear(a, tensor(6), tensor(7), c.spec.Classes, false)
		m := slices.Max(logits)
		var sum float64
		for _, z := range logits {
			sum += math.Exp(z - m)
		}
		total += m + math.Log(sum) - logits[label]
		allLogits = append(allLogits, logits)
	}
	return total / float64(len(labels)), allLogits, pattern
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestCNNModelMatchesPyTorchSemantics runs the model's forward and backward
// passes (cpu backend) on 20×20 images, where the first linear layer's
// inputs are a 2×2×64 activation whose NHWC and NCHW orders differ, and
// checks them against torchCNN: the logits, the host Classifier's
// probabilities, and the gradients of a sample of every tensor's
// coordinates against float64 central differences.
func TestCNNModelMatchesPyTorchSemantics(t *testing.T) {
	spec := nn.CNN(20, 20, 10)
	const batch = 3
	b := cpuBackend(t)
	m, err := nn.NewModel(b, spec, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	params := nn.InitParams(spec, 5)
	for i := range params {
		params[i] *= 2 // larger than PyTorch's initialisation, so that every layer matters
	}
	if err := m.SetParams(params); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(8, 9))
	pixels := make([]uint8, batch*spec.Inputs())
	for i := range pixels {
		if r.IntN(3) == 0 {
			pixels[i] = uint8(r.IntN(256))
		}
	}
	norm := nn.MNISTNormalization
	scale, shift := norm.ScaleShift()
	x := make([]float32, len(pixels))
	for i, p := range pixels {
		x[i] = float32(p)*scale + shift
	}
	labels := []int{3, 7, 0}
	xb, _ := b.Alloc(nn.Float32, len(x))
	yb, _ := b.Alloc(nn.Int32, batch)
	lossb, _ := b.Alloc(nn.Float32, 1)
	if err := b.Upload(xb, x); err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(yb, []int32{3, 7, 0}); err != nil {
		t.Fatal(err)
	}
	logits := m.Forward(xb, batch)
	b.SoftmaxCrossEntropy(lossb, m.LogitsGrad(), logits, yb, batch, spec.Classes)
	gotLogits := make([]float32, batch*spec.Classes)
	if err := b.Download(gotLogits, logits); err != nil {
		t.Fatal(err)
	}
	m.Backward(xb, batch)
	grads := make([]float32, spec.NumParams())
	if err := b.Download(grads, m.Grads); err != nil {
		t.Fatal(err)
	}
	torchGrads := spec.TorchOrder(grads)

	ref := torchCNN{spec, widen(spec.TorchOrder(params))}
	x64 := widen(x)
	loss, wantLogits, _ := ref.loss(x64, labels)
	t.Logf("loss %.4f", loss)
	clf, err := nn.NewClassifier(params, nn.ModelInfo{Spec: spec, Norm: norm})
	if err != nil {
		t.Fatal(err)
	}
	for row := 0; row < batch; row++ {
		probs, err := clf.Probabilities(pixels[row*spec.Inputs() : (row+1)*spec.Inputs()])
		if err != nil {
			t.Fatal(err)
		}
		want := wantLogits[row]
		mx := slices.Max(want)
		var sum float64
		for _, z := range want {
			sum += math.Exp(z - mx)
		}
		for c, z := range want {
			if d := math.Abs(float64(gotLogits[row*spec.Classes+c]) - z); d > 1e-4*(1+math.Abs(z)) {
				t.Errorf("sample %d: model logit %d = %.6f, PyTorch semantics %.6f", row, c, gotLogits[row*spec.Classes+c], z)
			}
			if p := math.Exp(z-mx) / sum; math.Abs(probs[c]-p) > 1e-5 {
				t.Errorf("sample %d: Classifier probability %d = %.6f, PyTorch semantics %.6f", row, c, probs[c], p)
			}
		}
	}

	// Central differences on a sample of every tensor's coordinates.
	skipped, checked := 0, 0
	for _, p := range spec.Params() {
		for k := 0; k < 12; k++ {
			i := p.Offset + (k*7919)%p.Size()
			const h = 1e-4
			orig := ref.params[i]
			ref.params[i] = orig + h
			lp, _, patp := ref.loss(x64, labels)
			ref.params[i] = orig - h
			lm, _, patm := ref.loss(x64, labels)
			ref.params[i] = orig
			if !slices.Equal(patp, patm) {
				skipped++
				continue
			}
			checked++
			fd := (lp - lm) / (2 * h)
			if d := math.Abs(float64(torchGrads[i]) - fd); d > 1e-5+1e-3*math.Abs(fd) {
				t.Errorf("%s[%d]: model gradient %.7g, central difference %.7g", p.Name, i-p.Offset, torchGrads[i], fd)
			}
		}
	}
	if skipped > checked/4 {
		t.Errorf("%d of %d coordinates sit on a kink", skipped, skipped+checked)
	}
}

// TestCNNModelFile saves a cnn, checks that the file holds PyTorch's
// layout, and loads it back; a state_dict without our metadata is
// recognised as a cnn.
func TestCNNModelFile(t *testing.T) {
	spec := nn.CNN(28, 28, 10)
	params := nn.InitParams(spec, 3)
	path := filepath.Join(t.TempDir(), "cnn.safetensors")
	info := nn.ModelInfo{Spec: spec, Norm: nn.MNISTNormalization}
	if err := nn.SaveModel(path, params, info); err != nil {
		t.Fatal(err)
	}
	got, gotInfo, err := nn.LoadModel(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, params) || gotInfo.Spec.String() != "cnn" {
		t.Fatalf("round trip: spec %s, parameters equal %v", gotInfo.Spec, slices.Equal(got, params))
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fc1, err := f.Expect("model.7.weight", safetensors.F32, 128, 1024)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := fc1.Float32s()
	// Column (c, h, w) of the file is column (h, w, c) of the model.
	p := spec.Params()[4]
	for _, c := range [][4]int{{0, 0, 0, 0}, {5, 1, 2, 3}, {127, 3, 3, 63}, {64, 2, 0, 17}} {
		o, h, w, ch := c[0], c[1], c[2], c[3]
		file := v[o*1024+(ch*4+h)*4+w]
		model := params[p.Offset+o*1024+(h*4+w)*64+ch]
		if file != model {
			t.Errorf("model.7.weight[%d, c=%d h=%d w=%d]: file %g, model %g", o, ch, h, w, file, model)
		}
	}
	// PyTorch's own file: the same tensors, no metadata.
	plain := &safetensors.File{Tensors: f.Tensors, Metadata: map[string]string{"format": "pt"}}
	ppath := filepath.Join(t.TempDir(), "torch.safetensors")
	if err := safetensors.WriteFile(ppath, plain); err != nil {
		t.Fatal(err)
	}
	got, gotInfo, err = nn.LoadModel(ppath)
	if err != nil {
		t.Fatal(err)
	}
	if gotInfo.Spec.String() != "cnn" || gotInfo.Spec.Rows != 28 || gotInfo.Spec.Classes != 10 || !slices.Equal(got, params) {
		t.Errorf("PyTorch file: spec %+v, parameters equal %v", gotInfo.Spec, slices.Equal(got, params))
	}
}

// TestCNNResumeWithAugmentationIsExact interrupts a cnn run with Adam and
// augmentation in its second epoch and resumes it from a checkpoint: the
// losses and weights must be the uninterrupted run's, bit for bit, since
// the maps derive from (seed, epoch). Augmentation must also change the
// run (it is applied) and the maps must differ from epoch to epoch.
func TestCNNResumeWithAugmentationIsExact(t *testing.T) {
	tr, te := mnisttest.SyntheticDataset(150, 16, 16, 1), mnisttest.SyntheticDataset(40, 16, 16, 2)
	spec := nn.CNN(16, 16, 10)
	cfg := nn.TrainConfig{
		Epochs: 2, Batch: 32, Seed: 3, Shuffle: true, Norm: nn.MNISTNormalization, LogEvery: 2,
		Schedule:  nn.Schedule{Name: "cosine", Base: 0.002, Epochs: 2},
		Optimizer: nn.OptimizerConfig{Name: "adam"},
		Augment:   nn.DefaultAugmentation,
	}
	run := func(cfg nn.TrainConfig) (*nn.Trainer, *recordingLog) {
		tn, err := nn.NewTrainer(cpuBackend(t), spec, cfg, tr, te)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tn.Close)
		log := &recordingLog{}
		tn.Observer = log
		if err := tn.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return tn, log
	}
	whole, wholeLog := run(cfg)
	plain := cfg
	plain.Augment = nn.Augmentation{}
	_, plainLog := run(plain)
	if slices.Equal(wholeLog.losses, plainLog.losses) {
		t.Fatal("augmentation did not change the losses")
	}

	second, log := resumeMidRun(t, spec, cfg, tr, te, 5+2, func(loaded *nn.Checkpoint) {
		if loaded.State.Config.Augment != nn.DefaultAugmentation {
			t.Fatalf("the checkpoint's augmentation is %+v", loaded.State.Config.Augment)
		}
	})
	if !slices.Equal(log.losses, wholeLog.losses) {
		t.Errorf("resumed run's losses differ from the uninterrupted run's:\n%v\n%v", log.losses, wholeLog.losses)
	}
	pw, _ := whole.Model.ParamsHost()
	pr, _ := second.Model.ParamsHost()
	if !slices.Equal(pw, pr) {
		t.Error("resumed run's weights differ from the uninterrupted run's")
	}
}

func TestAugmentationMaps(t *testing.T) {
	a := nn.DefaultAugmentation
	m0, m0again, m1 := make([]float32, 6*500), make([]float32, 6*500), make([]float32, 6*500)
	a.Maps(m0, 28, 28, 1, 0)
	a.Maps(m0again, 28, 28, 1, 0)
	a.Maps(m1, 28, 28, 1, 1)
	if !slices.Equal(m0, m0again) || slices.Equal(m0, m1) {
		t.Fatal("maps are not a function of (seed, epoch)")
	}
	// Each map is a rotation within ±10° and a shift within ±2 px: the centre
	// (13.5, 13.5) maps to within 2·√2 px of itself, and the linear part is
	// orthonormal.
	var maxAngle float64
	for p := 0; p < 500; p++ {
		m := m0[6*p : 6*p+6]
		if d := math.Abs(float64(m[0]*m[0]+m[1]*m[1]) - 1); d > 1e-6 || m[0] != m[4] || m[1] != -m[3] {
			t.Fatalf("map %d is not a rotation: %v", p, m)
		}
		sx := float64(m[0])*13.5 + float64(m[1])*13.5 + float64(m[2])
		sy := float64(m[3])*13.5 + float64(m[4])*13.5 + float64(m[5])
		if d := math.Hypot(sx-13.5, sy-13.5); d > 2*math.Sqrt2+1e-4 {
			t.Fatalf("map %d moves the centre by %.3f px", p, d)
		}
		maxAngle = math.Max(maxAngle, math.Abs(math.Atan2(float64(m[1]), float64(m[0]))*180/math.Pi))
	}
	if maxAngle > 10+1e-4 || maxAngle < 9 {
		t.Errorf("largest rotation %.3f°, want up to 10° (and near it in 500 draws)", maxAngle)
	}
	for _, bad := range []nn.Augmentation{{Shift: -1}, {Degrees: 200}, {Shift: float32(math.NaN())}} {
		if bad.Validate() == nil {
			t.Errorf("%+v: Validate accepted it", bad)
		}
	}
}
